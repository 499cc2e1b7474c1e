"""What every page (the header banner) and the account page say about the viewer's own spend."""

from django import template

from playground.services import billing, spend_reports
from web import presenters

register = template.Library()


@register.simple_tag
def own_limit_reached(user) -> dict | None:
    """The header's banner: the viewer's own monthly limit leaves no room for a run (one query)."""
    reached = spend_reports.limit_reached(user)
    if reached is None:
        return None
    return {"limit": f"${reached['limit']:,.2f}", "spent": presenters.format_cost(reached["spent"]),
            "full": reached["spent"] >= reached["limit"]}


@register.simple_tag
def spend_summary(user) -> dict:
    """The account page's summary: this month's spend and the limit's notice."""
    return {"spent": presenters.format_cost(billing.spent_this_month(user)),
            "notice": presenters.limit_notice(billing.notice(user))}
