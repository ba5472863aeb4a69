// Where a person lands after signing in, and what "home" is afterwards: decided by what the agent says they
// may use (state.may), never by their role.
import { loadItems } from "./items.js";
import { loadRefill } from "./refill.js";
import { may } from "./store.js";

export function home() {
  return may("refill") && !may("take") ? loadRefill() : loadItems();
}
