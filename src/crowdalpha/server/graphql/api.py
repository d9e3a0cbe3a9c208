"""The whole schema: Classic's and the shared operations (:mod:`.schema`) with the Signals
ones (:mod:`.signals`) and the participant's remaining numerapi calls (:mod:`.participant`)
beside them."""

from __future__ import annotations

import strawberry

from crowdalpha.server.graphql.participant import ParticipantMutation, ParticipantQuery
from crowdalpha.server.graphql.schema import CrowdAlphaSchema
from crowdalpha.server.graphql.schema import Mutation as SharedMutation
from crowdalpha.server.graphql.schema import Query as SharedQuery
from crowdalpha.server.graphql.signals import SignalsMutation, SignalsQuery

__all__ = ["Mutation", "Query", "schema"]


@strawberry.type
class Query(SharedQuery, SignalsQuery, ParticipantQuery):
    """Every query numerapi's NumerAPI and SignalsAPI send."""


@strawberry.type
class Mutation(SharedMutation, SignalsMutation, ParticipantMutation):
    """Every mutation numerapi's NumerAPI and SignalsAPI send."""


schema = CrowdAlphaSchema(query=Query, mutation=Mutation)
