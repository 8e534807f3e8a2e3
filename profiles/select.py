"""Choose what happens to a request body: which profile encrypts it, or why it is forwarded or refused."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .loader import normalise_media_type
from .model import BodyFormat, FleConfig, Profile

QUERY_ARG_NAME = "fle-profile"


class Action(Enum):
    ENCRYPT = "encrypt"
    FORWARD = "forward"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request: `reason` is a CloudFront-style reason code when it is refused."""

    action: Action
    profile: Profile | None = None
    format: BodyFormat | None = None
    reason: str | None = None


FORWARD = Decision(Action.FORWARD)


def select(config: FleConfig, content_type: str | None, query_profile: str | None) -> Decision:
    """Decide for a request that carries a body.

    `content_type` is the raw Content-Type header (None when absent); `query_profile` is the value of the
    `fle-profile` query argument (None when absent).
    """
    override: Profile | None = None
    if query_profile is not None and config.query_arg_profiles:
        for mapping in config.query_arg_profiles:
            if mapping.query_arg == query_profile:
                override = mapping.profile
                break
        else:
            if not config.forward_when_query_arg_profile_is_unknown:
                return Decision(Action.REJECT, reason="RejectedByQueryArgsClientError")

    media_type = normalise_media_type(content_type) if content_type else ""
    for mapping in config.content_type_profiles:
        if mapping.content_type == media_type:
            profile = override or mapping.profile
            if profile is None:
                return FORWARD
            return Decision(Action.ENCRYPT, profile=profile, format=mapping.format)
    if config.forward_when_content_type_is_unknown:
        return FORWARD
    return Decision(Action.REJECT, reason="RejectedByContentTypeClientError")
