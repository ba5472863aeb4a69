"""Planning figures from demand: stockout risk, slow movers and min/max recommendations.

Pure arithmetic on numbers the report has already measured, so each formula is readable (and tested) on
its own. The report's method section prints the same formulas with the parameters used."""
import math
import statistics


def demand_stats(daily_net, in_stock_days):
    """(demand per day, standard deviation per day) of one location.

    The rate is units over the days the location had stock: a location that was out for a week could not
    be taken from, so dividing by the whole period would understate demand. The deviation is that of the
    daily totals (population), the day-to-day swing the safety stock has to absorb."""
    total = sum(daily_net)
    rate = total / in_stock_days if in_stock_days > 0 else 0.0
    sd = statistics.pstdev(daily_net) if len(daily_net) > 1 else 0.0
    return max(0.0, rate), sd


def normal_tail(x):
    """P(Z > x) for a standard normal Z."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def stockout_probability(on_hand, rate, sd, horizon_days):
    """P(demand over the horizon > on hand), demand ~ Normal(rate * H, sd * sqrt(H))."""
    if on_hand <= 0:
        return 1.0
    mean = rate * horizon_days
    spread = sd * math.sqrt(horizon_days)
    if spread <= 0:
        return 1.0 if mean > on_hand else 0.0
    return normal_tail((on_hand - mean) / spread)


def risk_level(probability, params):
    if probability >= params.risk_high:
        return "high"
    return "medium" if probability >= params.risk_medium else "low"


def ceil_units(x):
    """Whole units at or above x (a hair of float noise does not add a unit)."""
    return max(0, math.ceil(round(x, 9)))


def recommend_min_max(rate, sd, lead_days, interval_days, pack, z):
    """(min, max, reorder-point text): min covers demand over the refill lead time with a safety stock,
    max adds one refill interval of demand in whole refill packs (at least one pack)."""
    pack = max(1, pack or 1)
    new_min = ceil_units(rate * lead_days + z * sd * math.sqrt(lead_days))
    span = max(pack, ceil_units(rate * interval_days / pack) * pack)
    return new_min, new_min + span


def days_of_cover(on_hand, rate):
    return on_hand / rate if rate > 0 else None
