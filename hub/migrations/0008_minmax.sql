-- Min/max review (docs/hub/minmax.md, decision 0046): the supplier proposes min/max per location from the
-- recommendations the hub computed, the customer's admin approves (maybe changed) or rejects it, and each
-- approved cabinet gets the next catalog desired version with those min/max (desired_docs).

CREATE TABLE minmax_proposals (
    id bigserial PRIMARY KEY,
    tenant hub_id NOT NULL,
    site hub_id NOT NULL,
    cabinet hub_id,                        -- null: every cabinet of the site
    state text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'submitted', 'approved', 'rejected')),
    period_start timestamptz NOT NULL,     -- the history the recommendations were computed from
    period_end timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    decided_by text,
    decided_at timestamptz,
    note text,                             -- the customer's words with a rejection (or an approval)
    FOREIGN KEY (tenant, site) REFERENCES sites);
CREATE INDEX minmax_proposals_by_site ON minmax_proposals (tenant, site, id);

-- One line per cabinet location: what the catalog said when it was proposed, what the hub recommends, and
-- what is proposed (changed by the supplier before it is submitted, by the customer's admin before approval).
CREATE TABLE minmax_lines (
    proposal bigint NOT NULL REFERENCES minmax_proposals ON DELETE CASCADE,
    cabinet hub_id NOT NULL REFERENCES cabinets,
    location text NOT NULL,
    sku text,
    capacity integer,
    current_min integer NOT NULL,
    current_max integer NOT NULL,
    recommended_min integer,               -- null: no recommendation (already right, or too little history)
    recommended_max integer,
    reason text,
    proposed_min integer NOT NULL CHECK (proposed_min >= 0),
    proposed_max integer NOT NULL CHECK (proposed_max >= proposed_min),
    PRIMARY KEY (proposal, cabinet, location));

-- Every change, as it was made: who, when, what (created, changed, submitted, approved, rejected, pushed), and
-- for a line the old and new min/max.
CREATE TABLE minmax_changes (
    id bigserial PRIMARY KEY,
    proposal bigint NOT NULL REFERENCES minmax_proposals ON DELETE CASCADE,
    at timestamptz NOT NULL,
    by_user text NOT NULL,
    action text NOT NULL,
    cabinet hub_id,
    location text,
    old_min integer,
    old_max integer,
    new_min integer,
    new_max integer,
    note text);
CREATE INDEX minmax_changes_by_proposal ON minmax_changes (proposal, id);

-- The catalog version an approval made for each cabinet: one per (proposal, cabinet), made in the approval's
-- transaction, so a second click finds it and makes none.
CREATE TABLE minmax_pushes (
    proposal bigint NOT NULL REFERENCES minmax_proposals ON DELETE CASCADE,
    cabinet hub_id NOT NULL,
    what text NOT NULL DEFAULT 'catalog' CHECK (what = 'catalog'),
    version integer NOT NULL,
    PRIMARY KEY (proposal, cabinet),
    FOREIGN KEY (cabinet, what, version) REFERENCES desired_docs (cabinet, what, version));
