from django import template

from smartystats import views

register = template.Library()


@register.inclusion_tag("smartystats/index_widgets.html", takes_context=True)
def smartystats_index_widgets(context):
    request = context.get("request")
    return {"panel": views.index_widgets_context(request) if request else None}
