"""When the desk opens again, said the way a patron reads a date: "Wednesday 2 December, 9:00 (Chicago time)".

An ISO timestamp ("2026-12-02 09:00") is what a database says, not a library; and a patron
elsewhere needs the library's time zone named. Babel (CLDR data) knows weekday and month names
and city names in every language, so only the word order lives here, per language the widget
offers; any other language gets the English phrase.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_location

# language -> (date-and-time pattern in CLDR syntax, time zone phrase around the city, nothing scheduled)
PHRASES = {
    "en": ("EEEE d MMMM, H:mm", "({city} time)", "when a new opening is scheduled"),
    "es": ("EEEE d 'de' MMMM, H:mm", "(hora de {city})", "cuando se programe una nueva apertura"),
    "fr": ("EEEE d MMMM, H:mm", "(heure de {city})", "dès qu'une nouvelle ouverture sera prévue"),
}


def _language(language: str | None) -> str:
    code = (language or "en")[:2].lower()
    return code if code in PHRASES else "en"


def opening_phrase(moment: datetime | None, timezone: str, language: str | None = None) -> str:
    """The opening as a phrase in `language`, in the library's time zone; a phrase for "none scheduled"."""
    code = _language(language)
    pattern, zone_phrase, nothing = PHRASES[code]
    if moment is None:
        return nothing
    zone = ZoneInfo(timezone)
    when = format_datetime(moment.astimezone(zone), pattern, tzinfo=zone, locale=code)
    city = get_timezone_location(zone, locale=code, return_city=True)
    where = "(UTC)" if city in ("UTC", "") else zone_phrase.format(city=city)
    return f"{when} {where}"
