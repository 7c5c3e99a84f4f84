"""The stateless GraphQL stage: the last step of a GraphQL stub without a store.

Composed by http/compose.py after the admin and simulation stages (the stateful stub uses
state/graphql.py instead). It answers every request through the GraphQL surface
(graphql/http.py) and never calls the stages after it: the engine is the last step.
"""

from __future__ import annotations

from sandlot.graphql.http import Publish, answer
from sandlot.mock.context import Next, RequestContext
from sandlot.mock.messages import MockResponse


class GraphQLStage:
    """Answer GraphQL requests with generated (or exampled) data; mutations feed subscriptions."""

    def __init__(self, publish: Publish | None = None) -> None:
        """`publish` hands the events of mutations to the subscriptions (graphql/subscriptions.py)."""
        self.publish = publish

    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse:
        """Answer one request (nothing is left for `call_next`)."""
        return answer(ctx, publish=self.publish)
