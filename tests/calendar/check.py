"""Reads an iCalendar file on stdin with the independent `icalendar` parser and prints what a
calendar client would see, as JSON: the calendar's properties, its events, and every problem
found (parse errors, missing required properties). The Rust tests assert on this output.
"""

import json
import sys

import icalendar

# RFC 5545 §3.6 and §3.6.1: what a calendar and an event must carry.
CALENDAR_REQUIRED = ("VERSION", "PRODID")
EVENT_REQUIRED = ("UID", "DTSTAMP", "DTSTART")


def main() -> None:
    text = sys.stdin.buffer.read()
    problems = []
    if not text.endswith(b"\r\n"):
        problems.append("content lines must end with CRLF")
    for number, line in enumerate(text.split(b"\r\n"), start=1):
        if len(line) > 75:
            problems.append(f"line {number} is longer than 75 octets")
    calendar = icalendar.Calendar.from_ical(text)
    problems += [f"{name}: {error}" for name, error in calendar.errors]
    problems += [f"calendar lacks {p}" for p in CALENDAR_REQUIRED if p not in calendar]
    events = []
    for event in calendar.walk("VEVENT"):
        problems += [f"{event.get('UID')}: {name}: {error}" for name, error in event.errors]
        problems += [f"event lacks {p}" for p in EVENT_REQUIRED if p not in event]
        events.append(
            {
                "uid": str(event.get("UID")),
                "summary": str(event.get("SUMMARY", "")),
                "description": str(event.get("DESCRIPTION", "")),
                "location": str(event.get("LOCATION", "")),
                "url": str(event.get("URL", "")),
                "status": str(event.get("STATUS", "")),
                "sequence": int(event.get("SEQUENCE", 0)),
                "start": event.decoded("DTSTART").isoformat(),
                "end": event.decoded("DTEND").isoformat(),
            }
        )
    print(
        json.dumps(
            {
                "version": str(calendar.get("VERSION", "")),
                "method": str(calendar.get("METHOD", "")),
                "events": events,
                "problems": problems,
            }
        )
    )


if __name__ == "__main__":
    main()
