"""The report's method section: how every figure was computed, in words a purchasing manager can check.
Kept next to the code it describes; docs/reports.md and decision 0012 say the same at more length."""


def method_notes(report):
    p = report.parameters
    q = report.quality
    interval = report.refills.mean_interval_days
    notes = [
        ("Period", "From %s to %s (UTC), end excluded: a transaction stamped exactly at the end belongs to the "
                   "next period. Figures about time (hours out of stock, demand per day) run to %s."
         % (_t(report.start), _t(report.end), _t(min(report.end, max(report.start, report.now))))),
        ("Usage", "Issues less returns. Lane vends, door openings and bin takes count with the quantity that "
                  "actually moved; an actuation that gave nothing (not vended, not sent, refused, outcome "
                  "unknown) is not usage and is never billed. Value is quantity times the unit cost recorded "
                  "on each transaction. Department is the user's, cost center and work order are the ones "
                  "recorded with the issue."),
        ("Tool loans", "Check-outs and check-ins of returnable tools are loans, not consumption: listed in "
                       "usage.csv as tool_out / tool_in with no amount, never billed. So are the test turns "
                       "of commissioning (movement 'commissioning')."),
        ("Billing", "Consignment stock is billed on issue at the recorded unit cost, returns credited at theirs "
                    "(a line can be negative). Customer-owned stock is shown with its value but not billed as "
                    "product. Counts and adjustments correct the shelf; they are shown under data quality, "
                    "not billed. Amounts are exact: integer cents, written as decimals."),
        ("Out of stock", "On-hand is rebuilt by replaying every stock movement in sequence order. A location "
                         "is out while its on-hand is zero or less, from the movement that took it there to "
                         "the one that brought it above zero; a location never stocked yet is not out. A "
                         "stockout is counted when a location goes out inside the period."),
        ("Demand", "Demand per day = net units taken / days the location had stock (days out of stock could "
                   "not be taken from). Its standard deviation is that of the daily totals."),
        ("Stockout risk", "Chance that demand over the next refill interval (%s days%s) exceeds what is on "
                          "hand at the end of the period, with demand ~ Normal(d x R, sd x sqrt(R)). High at "
                          "%d%% or more, medium at %d%%. Days of cover = on hand / demand per day."
         % (_n(interval or p.default_interval_days), ": the mean time between refill visits" if interval
            else ": the default, fewer than 2 visits seen", p.risk_high * 100, p.risk_medium * 100)),
        ("Min/max", "min = ceil(d x L + z x sd x sqrt(L)) covers demand over the refill lead time L (median "
                    "time from a refill task opening to the location back at min) with safety factor z = %s "
                    "(about 95%% of refill cycles without a stockout); max = min + d x R rounded up to whole "
                    "refill packs (at least one pack), R the refill interval. A part of criticality %s never "
                    "gets a lower min. A location with a physical capacity never gets a max above it (min then "
                    "leaves room for a refill pack), and its reason says what demand would need. No "
                    "recommendation from less than %s days of history."
         % (_n(p.safety_factor, 2), " or ".join(p.critical_levels), _n(p.min_history_days))),
        ("Slow movers", "A stocked location with no net usage in the period, or more than %s days of cover at "
                        "the period's demand. A period with no usage in the whole cabinet (idle, or not in use "
                        "yet) gives no slow movers and no min/max recommendations." % _n(p.slow_cover_days)),
        ("Refill visits", "Refill lines by one person less than %s hours apart are one visit. Refill lead time "
                          "is measured on refill tasks: opened when a location falls below min, closed when it "
                          "is back at min." % _n(p.visit_gap_hours)),
    ]
    quality = ("%d transaction(s) in the period were stamped by a clock not known to be synchronised; "
               "%d actuation(s) gave nothing (%d with outcome unknown, to be counted); %d count(s) changed "
               "on-hand by %+d unit(s) in total; %d adjustment(s)."
               % (q.unsynced_clock_rows, q.zero_outcomes, q.unknown_outcomes, q.count_corrections, q.count_delta,
                  q.adjustments))
    if q.replay_mismatches:
        quality += " Replayed on-hand disagrees with the ledger for %s: run `locker-agent verify`." % (
            ", ".join(q.replay_mismatches))
    notes.append(("Data quality", quality))
    return notes


def _t(moment):
    return moment.strftime("%Y-%m-%d %H:%M")


def _n(x, digits=1):
    text = ("%." + str(digits) + "f") % x
    return text.rstrip("0").rstrip(".") if "." in text else text
