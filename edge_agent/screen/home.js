// Where a person lands after signing in, and what "home" is afterwards: decided by what the agent says they
// may use (state.may), never by who they are.
import { loadItems } from "./items.js";
import { loadRefill } from "./refill.js";
import { may, session } from "./store.js";

let landing = null;        // the load under way: a second ask for the same person (the login's answer and the
                           // pushed state both ask) joins it instead of landing them again later

export function home() {
  const who = session() && session().user_id;
  if (landing && landing.who === who) return landing.done;
  // Refilling is the whole job of those who neither take nor supervise (drivers, supplier admins).
  const refiller = may("refill") && !may("take") && !may("supervise");
  const done = (refiller ? loadRefill() : loadItems()).finally(() => {
    if (landing && landing.done === done) landing = null;
  });
  landing = { who, done };
  return done;
}
