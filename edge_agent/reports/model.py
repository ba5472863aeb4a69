"""What a report holds: plain dataclasses, money in integer cents, times as timezone-aware UTC datetimes.

The HTML page and the CSV files are both rendered from a `Report`; the pilot simulation reads the same
object for its comparison page. Field names are part of the API (edge_agent.reports): add, do not rename."""
import datetime
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class Parameters:
    """The knobs of the planning figures, printed in the report's method section."""
    safety_factor: float = 1.65           # z for about a 95% chance of not running out during the lead time
    default_interval_days: float = 7.0    # refill interval assumed when the period shows fewer than 2 visits
    visit_gap_hours: float = 2.0          # refills by one person closer than this are one visit
    slow_cover_days: float = 90.0         # more days of cover than this at the period's demand: slow mover
    min_history_days: float = 7.0         # no min/max recommendation from less history than this
    critical_levels: Tuple[str, ...] = ("high", "critical")   # never recommend a lower min for these
    risk_high: float = 0.5
    risk_medium: float = 0.2


@dataclass
class ItemUsage:
    sku: str
    description: str
    category: Optional[str]
    ownership: str
    issued: int                 # units issued (consumption, not tool loans)
    returned: int               # units returned (credits)
    net: int                    # issued - returned
    value_cents: int            # net units at the unit cost recorded on each transaction
    daily: List[int] = field(default_factory=list)   # net units per day of the period (sparklines)


@dataclass
class GroupUsage:
    """Usage of one department, cost center or work order."""
    key: str
    issued: int
    returned: int
    net: int
    value_cents: int
    transactions: int


@dataclass
class UserActivity:
    user_id: str
    name: str
    role: Optional[str]
    department: Optional[str]
    cost_center: Optional[str]
    issues: int                 # issue transactions
    net: int                    # units issued - returned
    value_cents: int
    returns: int                # return transactions
    refills: int                # refill lines (route drivers)
    refusals: int
    tool_loans: int
    last_seen: Optional[datetime.datetime]


@dataclass
class AlertEvent:
    location: Optional[str]
    kind: str
    detail: Optional[str]
    raised: datetime.datetime
    cleared: Optional[datetime.datetime]


@dataclass
class RefillLine:
    seq: int
    time: datetime.datetime
    location: str
    sku: Optional[str]
    quantity: int
    user_id: Optional[str]


@dataclass
class RefillVisit:
    start: datetime.datetime
    end: datetime.datetime
    user_id: Optional[str]
    lines: int
    quantity: int
    locations: List[str]


@dataclass
class RefillTaskTiming:
    """A refill task (opened when a location fell below min) and how long until stock was back at min."""
    location: str
    sku: Optional[str]
    quantity: int
    opened: datetime.datetime
    closed: Optional[datetime.datetime]
    hours: Optional[float]      # opened to closed; None while still open


@dataclass
class RefillHistory:
    visits: List[RefillVisit]
    lines: List[RefillLine]
    tasks: List[RefillTaskTiming]
    mean_interval_days: Optional[float]   # between visit starts; None with fewer than 2 visits
    mean_task_hours: Optional[float]
    median_task_hours: Optional[float]


@dataclass
class LocationStockout:
    location: str
    sku: Optional[str]
    description: str
    stockouts: int                        # times the location went out in the period
    out_hours: float                      # hours at zero (or below) within the period
    intervals: List[Tuple[datetime.datetime, datetime.datetime]]   # clipped to the period (and now)
    out_now: bool


@dataclass
class StockoutRisk:
    location: str
    sku: str
    description: str
    on_hand: int
    demand_per_day: float
    sd_per_day: float
    horizon_days: float                   # the refill interval the risk is judged over
    days_of_cover: Optional[float]        # on_hand / demand; None with no demand
    probability: float                    # P(demand over the horizon > on hand now)
    level: str                            # high, medium, low


@dataclass
class SlowMover:
    location: str
    sku: str
    description: str
    on_hand: int
    net_issued: int
    days_of_cover: Optional[float]
    value_cents: int                      # on hand at current unit cost: the money the shelf holds
    reason: str


@dataclass
class MinMaxRecommendation:
    location: str
    sku: str
    description: str
    current_min: int
    current_max: int
    min: int
    max: int
    demand_per_day: float
    sd_per_day: float
    lead_days: float
    interval_days: float
    refill_pack: int
    reason: str


@dataclass
class BillingLine:
    """One billable SKU for one cost center at one unit price (a credit when returns exceed issues)."""
    cost_center: str
    sku: str
    description: str
    ownership: str
    unit_price_cents: int
    issued: int
    returned: int
    quantity: int
    amount_cents: int


@dataclass
class OwnershipTotal:
    ownership: str
    billed: bool
    issued: int
    returned: int
    quantity: int
    value_cents: int                      # what the units are worth at unit cost
    amount_cents: int                     # what is billed: value for consignment, 0 for customer-owned


@dataclass
class UsageRow:
    """One stock movement of consumption or a tool loan in the period (usage.csv)."""
    seq: int
    time: datetime.datetime
    clock_synced: bool
    movement: str                         # issue, return, tool_out, tool_in, commissioning
    location: str
    sku: Optional[str]
    description: str
    ownership: Optional[str]
    quantity: int                         # units moved, always >= 0; movement says which way
    unit_cost_cents: Optional[int]
    amount_cents: int                     # signed: issues +, returns -; 0 for tool loans
    billable: bool
    user_id: Optional[str]
    department: Optional[str]
    cost_center: Optional[str]
    work_order: Optional[str]
    machine_id: Optional[str]
    outcome: Optional[str]
    cabinet: Optional[str] = None         # whose ledger the row is from


@dataclass
class ToolLoss:
    """A tool that left the stock for good in the period: lost on loan, or scrapped from quarantine."""
    seq: int                              # the adjustment row that recorded it
    time: datetime.datetime
    what: str                             # 'lost' or 'scrapped'
    location: str
    sku: Optional[str]
    description: str
    quantity: int
    unit_cost_cents: Optional[int]
    value_cents: int                      # quantity at the unit cost recorded on the row
    recorded_by: Optional[str]            # the supervisor who marked it lost or scrapped it
    loan_id: Optional[int]                # a loss: the loan it was out on
    holder: Optional[str]                 # a loss: who had it


@dataclass
class DataQuality:
    unsynced_clock_rows: int = 0          # rows in the period whose wall time was not known to be right
    zero_outcomes: int = 0                # actuations that gave nothing (not vended, not sent, refused...)
    unknown_outcomes: int = 0             # outcome 'unknown': nothing billed, the location needs a count
    count_corrections: int = 0            # counts that changed on-hand
    count_delta: int = 0                  # units the counts added (+) or removed (-)
    adjustments: int = 0
    replay_mismatches: List[str] = field(default_factory=list)   # locations whose replay disagrees with on_hand


@dataclass
class Totals:
    transactions: int
    issues: int                           # issue transactions (consumption)
    units_issued: int
    units_returned: int
    net_units: int
    value_cents: int                      # net consumption at unit cost, all ownership models
    billable_cents: int                   # consignment, net of returns
    active_users: int
    refill_visits: int
    stockouts: int
    out_hours: float
    low_stock_events: int


@dataclass
class Report:
    cabinet_id: Optional[str]
    start: datetime.datetime
    end: datetime.datetime                # exclusive
    now: datetime.datetime                # when the figures were judged (open stockouts end here)
    observed_days: float                  # start to min(end, now), in days
    currency: str
    parameters: Parameters
    totals: Totals
    items: List[ItemUsage]
    by_department: List[GroupUsage]
    by_cost_center: List[GroupUsage]
    by_work_order: List[GroupUsage]
    users: List[UserActivity]
    weekly: List[Tuple[datetime.date, int, int]]     # (week start Monday, net units, value cents)
    alerts: List[AlertEvent]                          # raised in the period, every kind
    alert_counts: Dict[str, int]
    refills: RefillHistory
    stockouts: List[LocationStockout]
    risks: List[StockoutRisk]
    slow_movers: List[SlowMover]
    recommendations: List[MinMaxRecommendation]
    billing: List[BillingLine]
    ownership: List[OwnershipTotal]
    usage: List[UsageRow]
    quality: DataQuality
    method: List[Tuple[str, str]]                     # (heading, text): how each figure was computed
    tool_losses: List[ToolLoss] = field(default_factory=list)   # tools lost or scrapped in the period
    cabinets: List[str] = field(default_factory=list)         # the cabinets it covers (several: a customer's)

    @property
    def low_stock_events(self):
        return [a for a in self.alerts if a.kind == "low_stock"]
