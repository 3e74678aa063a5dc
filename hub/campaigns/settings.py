"""``[campaigns]`` settings: how campaigns share the dispatcher with transactional messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CampaignSettings(BaseModel):
    """How campaign messages are planned and how much of the dispatcher they may use."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(0.5, gt=0, le=1, description="The largest share of "
                         "`worker.concurrency` campaign sends may hold at once; they are "
                         "claimed only after every due transactional message.")
    priority: int = Field(10, ge=1, le=1000, description="The outbox priority of campaign "
                          "messages (0 is transactional; higher is claimed later).")
    batch_size: int = Field(500, ge=1, le=10_000, description="Returns read and planned per "
                            "transaction; the planning cursor is saved with each batch.")
    poll_seconds: float = Field(1.0, gt=0, description="How often the campaign planner "
                                "looks for running campaigns to plan.")
