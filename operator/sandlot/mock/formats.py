"""Realistic scalar values for the schema generator: string formats and property-name hints.

Called by `sandlot.mock.generate.Generator` for every scalar it synthesizes. Two things live here:

* format generators: one function per OpenAPI / JSON Schema string `format` (`date-time`,
  `uuid`, `email`, `ipv4`, `byte` ...) plus common vendor formats (Twilio's `phone-number`,
  `date-time-rfc-2822`, `iso-country-code` ...), each taking the request's `random.Random`;
* name hints: a property called `email`, `first_name`, `city`, `created_at` or `amount` gets a
  value that looks like one (`string_kind_for_name`, `number_range_for_name`).

The realistic words come from fixed pools shipped with the package (mock/pools.json): 200
values of each kind (names, cities, companies, words ...), drawn once from Faker seeded with
constants and written by `python -m tests.generate.pools` (a test fails when the file and
Faker's draw differ). Generation is `rng.choice(pool)`: the values look real, cost well under a
microsecond and depend only on the caller's rng. Shipping them, rather than drawing them at
start, keeps Faker's import and provider discovery (about 0.25 s) out of a stub's first answer,
and Faker out of the runtime dependencies.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
import string
import uuid
from collections.abc import Callable
from importlib import resources
from random import Random

from sandlot.util import fastjson

#: The pools beside this module (package data), written by tests/generate/pools.py.
POOLS_FILE = "pools.json"
# Synthesized dates fall in a fixed window, so values never depend on the wall clock.
_EPOCH_START = int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp())
_EPOCH_SPAN = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()) - _EPOCH_START
# RFC 2606 reserves these, so mock emails and URLs can never reach a real mailbox or site.
_DOMAINS = ("example.com", "example.org", "example.net")
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

@functools.cache
def _pools() -> dict[str, tuple[str, ...]]:
    """Read the shipped pools, once: {kind: values}."""
    data = fastjson.loads(resources.files(__package__).joinpath(POOLS_FILE).read_bytes())
    return {kind: tuple(values) for kind, values in data["pools"].items()}


def pool(kind: str) -> tuple[str, ...]:
    """Return the fixed pool of realistic values of `kind` (a key of mock/pools.json)."""
    return _pools()[kind]


def pool_kinds() -> tuple[str, ...]:
    """Return every kind of value that has a pool."""
    return tuple(_pools())


def _ascii_slug(text: str) -> str:
    """Return `text` lower-cased with everything but ASCII letters and digits removed."""
    return re.sub(r"[^a-z0-9]", "", text.lower()) or "user"


# ---------------------------------------------------------------- format generators

def date_time(rng: Random) -> str:
    """Return an RFC 3339 UTC timestamp between 2020 and 2026."""
    moment = dt.datetime.fromtimestamp(_EPOCH_START + rng.randrange(_EPOCH_SPAN), dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def date(rng: Random) -> str:
    """Return an RFC 3339 full-date between 2020 and 2026."""
    return date_time(rng)[:10]


def time_of_day(rng: Random) -> str:
    """Return an RFC 3339 full-time with a UTC offset."""
    return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"


def rfc2822(rng: Random) -> str:
    """Return an RFC 2822 date (Twilio's `date-time-rfc-2822`)."""
    moment = dt.datetime.fromtimestamp(_EPOCH_START + rng.randrange(_EPOCH_SPAN), dt.UTC)
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def duration(rng: Random) -> str:
    """Return an ISO 8601 duration such as `P3DT4H12M`."""
    return f"P{rng.randrange(1, 30)}DT{rng.randrange(24)}H{rng.randrange(60)}M"


def uuid4(rng: Random) -> str:
    """Return a version-4 UUID drawn from `rng`."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def email(rng: Random) -> str:
    """Return a person-like address at an RFC 2606 domain."""
    first = _ascii_slug(rng.choice(pool("first_name")))
    last = _ascii_slug(rng.choice(pool("last_name")))
    return f"{first}.{last}@{rng.choice(_DOMAINS)}"


def hostname(rng: Random) -> str:
    """Return a host name under an RFC 2606 domain."""
    return f"{_ascii_slug(rng.choice(pool('word')))}.{rng.choice(_DOMAINS)}"


def url(rng: Random) -> str:
    """Return an https URL under an RFC 2606 domain."""
    return f"https://{hostname(rng)}/{_ascii_slug(rng.choice(pool('word')))}/{rng.randrange(1, 10000)}"


def image_url(rng: Random) -> str:
    """Return an https URL of an image."""
    return f"https://images.{rng.choice(_DOMAINS)}/{rng.randrange(1, 10000)}.png"


def uri_reference(rng: Random) -> str:
    """Return a relative reference (an absolute path)."""
    return f"/{_ascii_slug(rng.choice(pool('word')))}/{rng.randrange(1, 10000)}"


def uri_template(rng: Random) -> str:
    """Return an RFC 6570 URI template."""
    return f"https://{hostname(rng)}/{_ascii_slug(rng.choice(pool('word')))}/{{id}}"


def ipv4(rng: Random) -> str:
    """Return a dotted-quad IPv4 address."""
    return f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def ipv6(rng: Random) -> str:
    """Return a full (uncompressed) IPv6 address in the documentation prefix 2001:db8::/32."""
    return "2001:db8:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))


def phone(rng: Random) -> str:
    """Return an E.164 phone number in the fictional 555-01xx range."""
    return f"+1{rng.choice(('415', '212', '646', '303'))}55501{rng.randrange(100):02d}"


def password(rng: Random) -> str:
    """Return a 16-character alphanumeric password."""
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))


def byte(rng: Random, min_length: int = 0, max_length: int | None = None) -> str | None:
    """Return base64 text whose length lies in the bounds, or None if no base64 length fits."""
    for size in (12, 6, 3, 24, 48):
        encoded_length = 4 * ((size + 2) // 3)
        if encoded_length >= min_length and (max_length is None or encoded_length <= max_length):
            return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(size))).decode()
    if max_length is not None:
        # Lengths are multiples of 4 for base64 with padding: pick the largest that fits.
        encoded_length = (max_length // 4) * 4
        if encoded_length >= min_length:
            size = encoded_length // 4 * 3
            return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(size))).decode()
    size = ((min_length + 3) // 4) * 3
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(size))).decode()


def decimal_text(rng: Random) -> str:
    """Return a decimal number as text, as `format: decimal` strings carry money amounts."""
    return f"{rng.randrange(1, 100000) / 100:.2f}"


def digits_text(rng: Random) -> str:
    """Return an integer as text (string schemas with `format: int64`)."""
    return str(rng.randrange(1, 10**9))


def count_text(rng: Random) -> str:
    """Return a small count as text (Twilio's `num_segments` and the like are strings)."""
    return str(rng.randrange(1, 20))


def version_text(rng: Random) -> str:
    """Return a semantic-version-like string."""
    return f"{rng.randrange(1, 4)}.{rng.randrange(10)}.{rng.randrange(10)}"


def _from_pool(kind: str) -> Callable[[Random], str]:
    """Return a generator that draws from the `kind` pool."""
    return lambda rng: rng.choice(pool(kind))


# format name -> generator; `byte` is handled by the caller because it depends on lengths.
FORMAT_GENERATORS: dict[str, Callable[[Random], str]] = {
    "date-time": date_time,
    "date": date,
    "time": time_of_day,
    "duration": duration,
    "uuid": uuid4,
    "guid": uuid4,
    "email": email,
    "idn-email": email,
    "hostname": hostname,
    "idn-hostname": hostname,
    "uri": url,
    "url": url,
    "iri": url,
    "uri-reference": uri_reference,
    "iri-reference": uri_reference,
    "uri-template": uri_template,
    "ipv4": ipv4,
    "ip": ipv4,
    "ipv6": ipv6,
    "binary": password,  # any octets are valid; readable ones are kinder in a JSON body
    "password": password,
    "json-pointer": lambda rng: f"/{_ascii_slug(rng.choice(pool('word')))}/{rng.randrange(10)}",
    "relative-json-pointer": lambda rng: f"{rng.randrange(3)}/{_ascii_slug(rng.choice(pool('word')))}",
    "regex": lambda rng: "^[a-z]+$",
    "phone": phone,
    "phone-number": phone,
    "tel": phone,
    "date-time-rfc-2822": rfc2822,
    "date-time-rfc-1123": rfc2822,
    "iso-country-code": _from_pool("country_code"),
    "country-code": _from_pool("country_code"),
    "currency": _from_pool("currency_code"),
    "http-method": lambda rng: rng.choice(_HTTP_METHODS),
    "decimal": decimal_text,
    "int32": digits_text,
    "int64": digits_text,
    "language": _from_pool("language_code"),
    "timezone": _from_pool("timezone"),
    "color": _from_pool("color"),
}


# ---------------------------------------------------------------- name hints

_KIND_GENERATORS: dict[str, Callable[[Random], str]] = {
    kind: _from_pool(kind) for kind in pool_kinds()
} | {
    "email": email,
    "url": url,
    "image_url": image_url,
    "phone": phone,
    "uuid": uuid4,
    "date-time": date_time,
    "date": date,
    "ipv4": ipv4,
    "hostname": hostname,
    "password": password,
    "token": password,
    "decimal": decimal_text,
    "count": count_text,
    "version": version_text,
}

# whole normalized name (lower-case, separators removed) -> kind
_STRING_NAMES: dict[str, str] = {
    "email": "email", "emailaddress": "email", "mail": "email",
    "firstname": "first_name", "givenname": "first_name", "forename": "first_name",
    "lastname": "last_name", "surname": "last_name", "familyname": "last_name",
    "name": "name", "fullname": "name", "displayname": "name", "contactname": "name",
    "customername": "name", "ownername": "name", "author": "name", "authorname": "name",
    "username": "user_name", "login": "user_name", "nickname": "user_name", "handle": "user_name",
    "city": "city", "town": "city", "country": "country", "countryname": "country",
    "countrycode": "country_code", "isocountry": "country_code",
    "state": "state", "province": "state", "region": "state",
    "zip": "postcode", "zipcode": "postcode", "postcode": "postcode", "postalcode": "postcode",
    "street": "street_address", "address": "street_address", "streetaddress": "street_address",
    "addressline1": "street_address", "line1": "street_address",
    "phone": "phone", "phonenumber": "phone", "mobile": "phone", "telephone": "phone", "fax": "phone",
    "url": "url", "website": "url", "homepage": "url", "link": "url", "href": "url", "uri": "url",
    "avatar": "image_url", "image": "image_url", "photo": "image_url", "picture": "image_url",
    "thumbnail": "image_url", "logo": "image_url", "icon": "image_url",
    "company": "company", "companyname": "company", "organization": "company",
    "organisation": "company", "employer": "company", "businessname": "company",
    "jobtitle": "job", "job": "job", "occupation": "job", "title": "title", "headline": "title",
    "description": "sentence", "summary": "sentence", "bio": "sentence", "about": "sentence",
    "comment": "sentence", "message": "sentence", "body": "sentence", "note": "sentence",
    "notes": "sentence", "text": "sentence", "content": "sentence", "reason": "sentence",
    "currency": "currency_code", "currencycode": "currency_code",
    "language": "language_code", "languagecode": "language_code", "lang": "language_code",
    "locale": "locale", "timezone": "timezone", "tz": "timezone",
    "ip": "ipv4", "ipaddress": "ipv4", "color": "color", "colour": "color",
    "slug": "slug", "domain": "hostname", "hostname": "hostname", "host": "hostname",
    "filename": "file_name", "mimetype": "mime_type", "contenttype": "mime_type",
    "iban": "iban", "password": "password", "secret": "token", "token": "token", "apikey": "token",
    "id": "uuid", "uuid": "uuid", "guid": "uuid",
    "tag": "word", "tags": "word", "category": "word", "label": "word", "keyword": "word",
    "status": "status",
    "price": "decimal", "amount": "decimal", "cost": "decimal", "balance": "decimal",
    "fee": "decimal", "total": "decimal", "subtotal": "decimal", "tax": "decimal",
    "count": "count", "quantity": "count", "qty": "count",
    "version": "version", "apiversion": "version",
    "timestamp": "date-time", "birthdate": "date", "dateofbirth": "date", "dob": "date",
    "birthday": "date",
}
# last token of the name -> kind (for `billing_email`, `avatarUrl`, `created_at` ...)
_STRING_SUFFIXES: dict[str, str] = {
    "email": "email", "url": "url", "uri": "url", "link": "url", "href": "url",
    "at": "date-time", "time": "date-time", "timestamp": "date-time", "date": "date",
    "id": "uuid", "uuid": "uuid", "guid": "uuid", "phone": "phone", "city": "city",
    "country": "country", "ip": "ipv4", "description": "sentence", "message": "sentence",
    "username": "user_name", "image": "image_url", "avatar": "image_url",
    "price": "decimal", "amount": "decimal", "count": "count", "version": "version",
}

# normalized name -> (low, high) for numbers
_NUMBER_NAMES: dict[str, tuple[float, float]] = {
    "age": (18, 90), "year": (1990, 2026), "month": (1, 12), "day": (1, 28), "hour": (0, 23),
    "minute": (0, 59), "second": (0, 59), "port": (1024, 65535),
    "count": (1, 50), "quantity": (1, 20), "qty": (1, 20), "total": (1, 500),
    "amount": (100, 100000), "price": (100, 100000), "cost": (100, 100000),
    "balance": (100, 100000), "fee": (100, 5000), "subtotal": (100, 100000), "tax": (10, 5000),
    "rating": (1, 5), "stars": (1, 5), "score": (0, 100), "percent": (0, 100),
    "percentage": (0, 100), "latitude": (-90, 90), "lat": (-90, 90), "longitude": (-180, 180),
    "lng": (-180, 180), "lon": (-180, 180), "page": (1, 10), "limit": (10, 100),
    "pagesize": (10, 100), "perpage": (10, 100), "size": (1, 100), "id": (1, 100000),
    "width": (100, 2000), "height": (100, 2000), "weight": (1, 100), "duration": (1, 3600),
    "version": (1, 10), "priority": (1, 5), "index": (0, 100), "position": (0, 100),
    "timestamp": (1_600_000_000, 1_800_000_000),
}
_NUMBER_SUFFIXES: dict[str, tuple[float, float]] = {
    "id": (1, 100000), "count": (1, 50), "amount": (100, 100000), "price": (100, 100000),
    "at": (1_600_000_000, 1_800_000_000), "timestamp": (1_600_000_000, 1_800_000_000),
    "total": (1, 500), "size": (1, 100),
}
# money-like names get two decimals when the schema is a `number`
MONEY_NAMES = frozenset({"amount", "price", "cost", "balance", "fee", "subtotal", "tax", "total"})

_TOKEN_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def name_tokens(name: str) -> tuple[str, ...]:
    """Split a property name (snake, kebab or camel case) into lower-case tokens."""
    return tuple(token.lower() for token in _TOKEN_SPLIT.split(name) if token)


@functools.lru_cache(maxsize=8192)
def string_kind_for_name(name: str) -> str | None:
    """Return the kind of realistic string a property of this name holds, or None."""
    tokens = name_tokens(name)
    if not tokens:
        return None
    kind = _STRING_NAMES.get("".join(tokens))
    if kind is None and len(tokens) > 1:
        kind = _STRING_SUFFIXES.get(tokens[-1])
        if kind is None and tokens[0] == "num":  # num_segments, numMedia
            kind = "count"
    return kind


def string_for_kind(kind: str, rng: Random) -> str:
    """Return a realistic string of `kind` (a value of string_kind_for_name)."""
    return _KIND_GENERATORS[kind](rng)


def kind_generator(kind: str) -> Callable[[Random], str]:
    """Return the function string_for_kind calls for `kind` (to look it up once)."""
    return _KIND_GENERATORS[kind]


@functools.lru_cache(maxsize=8192)
def number_range_for_name(name: str) -> tuple[float, float] | None:
    """Return a realistic (low, high) range for a numeric property of this name, or None."""
    tokens = name_tokens(name)
    if not tokens:
        return None
    found = _NUMBER_NAMES.get("".join(tokens))
    if found is None and len(tokens) > 1:
        found = _NUMBER_SUFFIXES.get(tokens[-1])
    return found


@functools.lru_cache(maxsize=8192)
def is_money_name(name: str) -> bool:
    """Tell whether a numeric property of this name holds a money amount."""
    tokens = name_tokens(name)
    return bool(tokens) and tokens[-1] in MONEY_NAMES
