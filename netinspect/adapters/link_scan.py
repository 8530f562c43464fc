"""Cast summary and ARP exchanges of a capture file, for `review`.

One pass over the file's frames through wire.link_survey; a damaged container ends the
pass with what was found so far (review itself reports the damage and its offset).
"""

from __future__ import annotations

from netinspect.adapters.capture_file import CaptureReader
from netinspect.core.errors import CaptureFileError
from netinspect.wire.link_survey import LinkSurvey


def survey_file(path: str):
    """(CastSummary, ArpReport) of the capture at `path`."""
    survey = LinkSurvey()
    feed = survey.feed
    try:
        for frame in CaptureReader(path).frames():
            data = frame.data
            feed(data, 0, len(data), frame.linktype, frame.ts_ns, frame.index)
    except CaptureFileError:
        pass
    return survey.finish()
