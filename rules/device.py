"""Device class of a request: ``mobile``, ``tablet``, ``desktop`` or ``bot``.

The classes follow the ``user-agents`` package (``is_bot`` / ``is_tablet`` / ``is_mobile``
/ ``is_pc``), reproduced on top of ua-parser's compiled (Rust) resolver because
``user_agents.parse`` drives ua-parser's legacy pure-Python regex list and costs most of a
millisecond per new User-Agent. Corrections are layered on top, each for a known blind
spot of user-agents:

* non-browser clients (HTTP libraries, command-line tools, headless browsers, monitors,
  feed readers, link previewers, SEO and security tools) are bots;
* Android devices whose UA does not say ``Mobile Safari`` are not all tablets, and
  tablets that do say it are recognised by their model (below);
* the ``Sec-CH-UA-Mobile`` Client Hint overrides the phone/not-phone guess, except on
  iPhones, iPods and iPads: their browsers send no Client Hints at all, so a hint beside an
  iOS UA comes from a Chromium emulating one, and the UA is what the person asked to see.

Where the device knowledge comes from. A model code says "tablet" only to someone who knows
the maker's catalogue. ua-parser, already a dependency, brings the maintained part of that
knowledge: uap-core's device patterns (Apache-2.0, released monthly as
``ua-parser-builtins``, parsed by the compiled resolver we call anyway, so at no extra cost)
name the maker behind bare model codes ("RC9731C" is a 3Q, "ARCHM901" an Arnova, "A101C"
an Archos). uap-core records no form factor, so the makers' own published naming schemes
fill that gap in one short table (``_MAKER_MODEL``, ``_TABLET_MAKERS``): Samsung's SM-T/P/X
tablets, Lenovo's TB-/YT-, BQ and Archos numbers that start with the screen size, makers
uap-core knows only by their tablets. Considered and not used: Matomo's device-detector
database (PyPI ``device-detector``, data LGPL-3.0, no licence in the wheel's metadata),
the only maintained source that records a form factor per model, costs about 7 ms per new UA
(p99 over 100 ms) against our 100 µs budget, and the labelled corpus ``make accuracy``
scores against is built from its test fixtures, so using it would make that score
circular; ``user-agents-ng`` adds no model knowledge; the Mobile-Detect ports and
51Degrees' free packages have not been released for years.

Regular expressions run on the lower-cased UA: Python's case-insensitive matching costs
about three times as much, and a new UA must cost well under 100 µs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from ua_parser import Device, Domain, PartialResult, load_builtins
from ua_parser.regex import Resolver

__all__ = ["CACHE_SIZE", "DEVICE_CLASSES", "MAX_USER_AGENT", "device_class"]

DEVICE_CLASSES = ("mobile", "tablet", "desktop", "bot")

# Real UAs fit comfortably; cutting longer headers bounds both the regex work a client
# can ask of us and the memory a cache entry can hold.
MAX_USER_AGENT = 512
# Distinct UAs seen by a site follow a long tail; a few thousand entries hold the head.
CACHE_SIZE = 4096

_HINT = "sec-ch-ua-mobile"

# -- user-agents semantics (user_agents/parsers.py, version 2.2) -----------------------

_MOBILE_DEVICE_FAMILIES = frozenset(
    {
        "iPhone",
        "iPod",
        "Generic Smartphone",
        "Generic Feature Phone",
        "PlayStation Vita",
        "iOS-Device",
    }
)
_PC_OS_FAMILIES = frozenset({"Windows 95", "Windows 98", "Solaris"})
_MOBILE_OS_FAMILIES = frozenset(
    {
        "Windows Phone",
        "Windows Phone OS",
        "Symbian OS",
        "Bada",
        "Windows CE",
        "Windows Mobile",
        "Maemo",
    }
)
_MOBILE_BROWSER_FAMILIES = frozenset(
    {
        "IE Mobile",
        "Opera Mobile",
        "Opera Mini",
        "Chrome Mobile",
        "Chrome Mobile WebView",
        "Chrome Mobile iOS",
    }
)
_TABLET_DEVICE_FAMILIES = frozenset(
    {
        "iPad",
        "BlackBerry Playbook",
        "Blackberry Playbook",
        "Kindle",
        "Kindle Fire",
        "Kindle Fire HD",
        "Galaxy Tab",
        "Xoom",
        "Dell Streak",
    }
)


@lru_cache(maxsize=1)
def _resolver() -> Resolver:
    # Built on first use (about 0.2 s), not at import, so tools that import daypart
    # without classifying requests do not pay for it.
    return Resolver(load_builtins())


def _user_agents_class(ua: str, parsed: PartialResult) -> str | None:
    """What user-agents says, asked in the order is_bot, is_tablet, is_mobile, is_pc.

    None when user-agents would call the client none of them.
    """
    device = parsed.device.family if parsed.device else "Other"
    if device == "Spider":
        return "bot"
    os = parsed.os.family if parsed.os else "Other"
    os_version = (parsed.os.major or "", parsed.os.minor) if parsed.os else ("", None)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"

    if (
        device in _TABLET_DEVICE_FAMILIES
        or (os == "Android" and "Mobile Safari" not in ua and browser != "Firefox Mobile")
        or (os == "Windows" and os_version[0].startswith("RT"))
        or (os == "Firefox OS" and "Mobile" not in browser)
    ):
        return "tablet"
    if (
        device in _MOBILE_DEVICE_FAMILIES
        or browser in _MOBILE_BROWSER_FAMILIES
        or os in ("Android", "Firefox OS")
        or (os == "BlackBerry OS" and device != "Blackberry Playbook")
        or os in _MOBILE_OS_FAMILIES
        or "J2ME" in ua
        or "MIDP" in ua
        or "iPhone;" in ua
        or "Googlebot-Mobile" in ua
        or ("NokiaBrowser" in ua and "Mobile" in ua)
    ):
        return "mobile"
    if (
        "Windows NT" in ua
        or os in _PC_OS_FAMILIES
        or (os == "Windows" and os_version == ("ME", None))
        or (os == "Mac OS X" and "Silk" not in ua)
    ):
        return "desktop"
    if "Maemo" in ua:
        return None
    if "Chrome OS" in os or ("Linux" in ua and "X11" in ua):
        return "desktop"
    return None


# -- corrections -----------------------------------------------------------------------

# The patterns match the lower-cased UA. Those searched over the whole UA start every
# alternative with a literal and check word boundaries by a look-behind after it
# ("seo\b(?<!\wseo)", not "\bseo\b"): that keeps the re module's fast prefix scan and
# makes the bot pattern three times cheaper.

# Words only non-browser clients use for themselves: crawlers, monitors and checkers,
# feed readers, link previewers, SEO and security tools, HTTP libraries and command-line
# tools, headless and automated browsers. "Cubot" is a phone brand. Browsers never add
# to the "(KHTML, like Gecko)" comment; services borrowing a browser's UA put their name
# there.
_BOT_WORDS = re.compile(
    r"bot(?<!cubot)(?:\b|[/_-])|crawl|spider|slurp|scrap|fetch|archiv|index(?:er|ing)"
    r"|monitor|uptime|check|probe|synthetic|observatory|inspect|verif|validat|audit"
    r"|analy[sz]er|insights|seo\b(?<!\wseo)|scan|feed|rss\b(?<!\wrss)|preview|proxy|cache"
    r"|transcod|agent\b|http-?client|curl|wget|python|aiohttp|httpx|okhttp|java/(?<!\wjava/)"
    r"|libwww|node-fetch|axios|headless|phantomjs|puppeteer|playwright|selenium|webdriver"
    r"|lighthouse|\(khtml, like gecko;"
    # Crawlers say where to read about them; browsers never carry a URL or an address.
    # "${" is a template-injection probe.
    r"|https?://|\+https?:|www\.|@(?<=\w@)\w|\$\{"
)
# Any hint of the machine a client runs on. A client giving none, that ua-parser cannot
# place either, is a script, probe or service ("ApacheBench/2.3", "Mozilla/5.0
# (compatible)"): browsers and apps on real devices say where they run.
_PLATFORM = re.compile(
    r"windows|win(?:9x|nt|\d\d)|mac|darwin|linux|x11|bsd|unix|sunos|amiga|os/2|beos"
    r"|android|ios\b|iphone|ipad|ipod|cfnetwork|symbian|series ?[46]0|blackberry|kaios"
    r"|midp|cldc|up\.browser|wap(?<!\wwap)|mobile|phone|tablet|screen|browser|webkit|gecko"
    r"|trident"
)
# A single "Name/version" token and nothing else is how libraries and tools introduce
# themselves ("HTTPie/3.2.2", "ApacheBench/2.3"), unless the name is a device's.
_LONE_PRODUCT = re.compile(r"[^\s/()]+/[^\s/()]+")
# Words naming a tablet wherever they appear. "Tablet PC" is a Windows desktop
# component, not a device.
_TABLET_WORDS = re.compile(
    r"tablet(?! pc)|ipad(?<!\wipad)|apad\b(?<!\wapad)|kindle|playbook|xoom|nook\b(?<!\wnook)"
    r"|transformer"
)
# Device names that say "tablet" whoever made them: "Tab"/"Pad" product lines; generic
# "MID" (mobile internet device) builds; a screen diagonal of 7" or more; the "T" + three
# digits many makers give tablets; the network ("3G", "4G") budget tablets put in their
# names to tell models apart (phones do not); white-label model numbers that lead with the
# screen size ("MT0729D"). Makers' own schemes, which take precedence, are in _MAKER_MODEL.
_TABLET_MODEL = re.compile(
    r"\btab\b|tab[\s_-]?(?:[a-z]?\d|s\d|pro|lite|plus)|\w*pad\b|pad[\s_-]?\d"
    r"|\bmid\b|\bmid[\s_-]?\d|(?<![\d.])(?:[789]|1[0-3])\.\d\d?(?![\d.])|\bt\d{3}"
    r"|[\s_-][34]g(?![a-z\d])|^[a-z]{1,5}[-_ ]?(?:0[789]|10)\d\d[a-z]{0,2}$"
)
# Makers' naming schemes, matched on the lower-cased model; the group that matches says
# what the model is. "phone" and "tablet" lines are the makers' own series letters;
# "sized" catches makers that start the model number with the screen diagonal (BQ:
# BQ-5020 is a 5" phone, BQ-7098G a 7" tablet, BQ-1045G a 10.1" one); "either" are codes
# a maker gives phones and tablets alike (HMD's TA-xxxx), where only the UA's shape can tell.
_MAKER_MODEL = re.compile(
    # Samsung Galaxy A/C/E/F/G/J/M/S and Note (SM-N7xx/9xx; the foldables, SM-F, send
    # tablet-shaped UAs when opened, but are phones); Motorola XT (its tablets are MZ);
    # Oppo CPH and realme RMX (their tablets are OPD/RMP); Nokia's numbered phones ("Nokia
    # 7.2"); LG's LM- phones and LG- phones before them (its tablets are LM-T and
    # LG-V4xx/5xx/7xx); vivo's V + four digits.
    r"(?P<phone>\bsm-(?:[acefgjms]|n[79])\d|^xt\d{3,4}\b|^(?:cph|rmx)\d{4}|^nokia \d(?:\.\d)?\b"
    r"|^lm-[gkqvx]\d|^lg-[dehkmpx]\d|^v[12]\d{3}[a-z]{0,2}$)"
    # Samsung Galaxy Tab (SM-T/P/X, GT-P) and Note 8.0/10.1 (GT-N5xxx/N8xxx); Amazon Fire
    # (KF + codename); Lenovo Tab and Yoga Tab (TB-, TB2-, YT3-, ...); Huawei MediaPad and
    # MatePad codes; LG G Pad; Sony Xperia Tablet (SGP); Acer Iconia (A1-/A3-/B1-/B3-);
    # Nokia T; Google Nexus 7/9/10 and Pixel C; Oppo and OnePlus Pad (OPD), realme Pad (RMP);
    # Alcatel's 90xx tablets (but the 9001 and 9008, 6" phones); HTC's only tablets; Asus
    # ZenPad (P00x-P02x); Alldocube iPlay.
    r"|(?P<tablet>\b(?:sm-[ptx]|gt-p|gt-n[58])\d|\bkf[a-z]{2,4}\b|\b(?:tb|yt)\d?-[a-z]?\d{3,4}"
    r"|\b(?:ags|bah|btv|cmr|dby|jdn|kob|mrx|scm)\d?-(?:w|al|l)\d|\blg-v[457]\d\d|\blm-t\d"
    r"|\bsgpt?\d{3}|\b[ab][13]-[a-z\d]{3}\b|^nokia (?:t\d\d|n1)\b|\bnexus (?:7|9|10)\b"
    r"|\bpixel c\b|^(?:opd|rmp)\d{4}|^90(?!0[18])\d\d[a-z]$|flyer|jetstream"
    r"|^(?:asus_)?p0[0-2][a-z\d]{1,2}$|\biplay)"
    r"|(?P<sized>^bq(?:ru|s)?[-_ ]?\d{4})"
    r"|(?P<either>^ta-\d{4})"
)
# Makers ua-parser recognises only by their tablet lines: its patterns for them match
# tablet model codes alone (3Q "RC9731C", Arnova "ARCHM901", CobyKyros "MID7024", ...).
_TABLET_MAKERS = frozenset(
    {
        "3Q",
        "Ainol",
        "Airpad",
        "Arnova",
        "Assistant",
        "CobyKyros",
        "DNS",
        "Danew",
        "Denver",
        "Hannspree",
        "Intenso",
        "Mytab",
        "Nabi",
        "Nextbook",
        "Nook",
        "Ployer",
        "Trekstor",
        "Xoro",
        "Yarvik",
        "Yifang",
    }
)
# Lines ua-parser names by maker whose model names say which are tablets: Allview's Speed,
# Viva, Alldro, AX and Wi tablets beside its P/V/X/A/E phones; Asus MeMO Pad (ME + three
# digits); Celkon's CT tablets.
_MAKER_TABLET_LINES = {
    "Allview": re.compile(r"speed|viva|alldro|frenzy|shine|^ax\d|^wi\d"),
    "Asus": re.compile(r"^me\d{3}"),
    "Celkon": re.compile(r"^ct"),
}
# Archos numbers phones and tablets alike by their screens: "50 Platinum", "101 Neon",
# "A101C", "AN7G2".
_ARCHOS_SIZE = re.compile(r"(?:an?)?(\d+)")
# Laptops and all-in-ones running Android (Chromebooks, Android-x86 builds) report
# Android without "Mobile", which user-agents reads as a tablet.
_DESKTOP_MODEL = re.compile(
    r"(?<!face)book\b|laptop|\baio\b|all-in-one|inspiron|latitude|travelmate|aspire"
)
# Feature phones and phone apps, which user-agents does not place at all.
_PHONE_WORDS = re.compile(
    r"mobile\b(?<!\wmobile)|phone|ipod|midp|cldc|up\.browser|up/(?<!\wup/)\d|wap(?<!\wwap)"
    r"|kaios|symbian|series ?[46]0|screen-\d|fb4a|lumia"
)
_DESKTOP_WORDS = re.compile(r"windows|macintosh|mac ?os|win(?:nt|\d\d)|x11")
# The device name in an Android UA: "android 9; sm-t517)",
# "android 4.2.2; ru-ru; bq-9702g build/jdq39", UC Browser's "adr 4.0.3; en-us; gt100)".
_ANDROID_MODEL = re.compile(
    r"(?:android|adr)[ /]?[\d.]*[^;)]*;"  # "android 4.2.2;"
    r"(?:\s*[a-z]{2}[-_][a-z]{2,3}\s*;)?"  # "ru-ru;"
    r"\s*([^;)]*?)(?:\s*build\b|[;)]|$)"  # "bq-9702g build"
)
# A browser engine. Without one, an Android UA is an app's HTTP stack (Dalvik, media
# players), which never says "Mobile", so that word's absence proves nothing.
_ENGINE = re.compile(r"applewebkit|gecko/|presto|trident")


def _by_size(number: str) -> str:
    """Phone or tablet from a model number that starts with the screen diagonal: "50" and
    "5020" are 5", "70" and "7098" 7", "101" and "1045" 10.1"."""
    inches = int(number[:2]) if number[0] == "1" and len(number) > 1 else int(number[0])
    return "tablet" if inches >= 7 else "mobile"


def _by_maker(model: str, device: Device | None, found: str) -> str | None:
    """What the maker's naming says the device is; None when it says nothing."""
    if device is not None:
        if device.brand in _TABLET_MAKERS:
            return "tablet"
        lines = _MAKER_TABLET_LINES.get(device.brand or "")
        if lines is not None and lines.search((device.model or "").lower()):
            return "tablet"
        if device.brand == "Archos":
            number = _ARCHOS_SIZE.match((device.model or "").lower())
            if number is not None:
                return _by_size(number[1])
    match = _MAKER_MODEL.search(model)
    if match is None:
        return None
    kind = match.lastgroup
    if kind == "sized":
        return _by_size(match[0][-4:])
    if kind == "either":
        return found
    return "mobile" if kind == "phone" else "tablet"


def _android(low: str, found: str, parsed: PartialResult) -> str:
    match = _ANDROID_MODEL.search(low)
    model = match[1] if match else ""
    if _DESKTOP_MODEL.search(model):
        return "desktop"
    by_maker = _by_maker(model, parsed.device, found)
    if by_maker is not None:
        return by_maker
    if _TABLET_MODEL.search(model) or _TABLET_WORDS.search(low):
        return "tablet"
    if found == "tablet" and (not _ENGINE.search(low) or _PHONE_WORDS.search(low)):
        return "mobile"
    return found


def _windows(ua: str) -> str:
    # Windows 10 Mobile's Edge sends a desktop UA that still names the phone.
    if "Lumia" in ua or "Windows Phone" in ua:
        return "mobile"
    # IE 10/11 add "Touch" on touch-screen Windows devices (Surface and its kind), which
    # device databases file as tablets.
    if "; Touch" in ua:
        return "tablet"
    return "desktop"


def _named(parsed: PartialResult) -> bool:
    """Whether ua-parser recognised a device by name, not by its catch-all prefixes
    ("Generic Feature Phone" for anything starting "http", "libw", "play", ...)."""
    return parsed.device is not None and parsed.device.brand != "Generic"


def _unplaced(low: str, parsed: PartialResult) -> str:
    if "android" in low:
        # An Android UA ua-parser could not read (odd case or punctuation).
        return _android(low, "mobile" if _PHONE_WORDS.search(low) else "tablet", parsed)
    if _TABLET_WORDS.search(low):
        return "tablet"
    if _PHONE_WORDS.search(low):
        return "mobile"
    if _DESKTOP_WORDS.search(low):
        return "desktop"
    if _named(parsed):
        # Computers are named with their platform, caught above; what is left is handsets
        # ("Nokia6300/2.0", "MOT-V3/0E.40.3CR").
        return "mobile"
    if parsed.os is None and not _PLATFORM.search(low):
        return "bot"
    return "desktop"


def _classify_agent(ua: str) -> str:
    if not ua.strip():
        # Browsers always send a User-Agent; scripts and probes are what omit it.
        return "bot"
    low = ua.lower()
    if _BOT_WORDS.search(low):
        return "bot"
    if not ua.isascii():
        # ua-parser's Rust engine takes UTF-8 only; lone surrogates would raise.
        ua = ua.encode("utf-8", "replace").decode("utf-8")
    parsed = _resolver()(ua, Domain.ALL)
    if _LONE_PRODUCT.fullmatch(low) and not _PLATFORM.search(low) and not _named(parsed):
        return "bot"
    found = _user_agents_class(ua, parsed)
    if found is None:
        return _unplaced(low, parsed)
    if found == "desktop" and "Windows NT" in ua:
        return _windows(ua)
    if found in ("mobile", "tablet") and parsed.os is not None and parsed.os.family == "Android":
        return _android(low, found, parsed)
    return found


@lru_cache(maxsize=CACHE_SIZE)
def _classify(ua: str, mobile_hint: bool | None) -> str:
    found = _classify_agent(ua)
    if mobile_hint is None or found in ("bot", "tablet"):
        return found
    if found == "mobile" and ("iPhone" in ua or "iPod" in ua):
        # iOS browsers send no Client Hints: the hint comes from a Chromium emulating an
        # iPhone (device mode, a UA switcher), and the page wanted is the iPhone's.
        return found
    if mobile_hint:
        return "mobile"
    if found == "mobile":
        # Chromium sends ?0 on Android devices it does not treat as phones: tablets with a
        # reduced, phone-shaped UA ("Android 10; K ... Mobile"), foldables opened flat.
        # A phone asking for the desktop site sends a desktop UA, so it never gets here.
        return "tablet" if "Android" in ua else "desktop"
    return found


def _mobile_hint(headers: Mapping[str, str]) -> bool | None:
    value = headers.get(_HINT)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == _HINT), None)
        if value is None:
            return None
    # A structured-header boolean; anything else is ignored rather than guessed at.
    value = value.strip()
    if value == "?1":
        return True
    if value == "?0":
        return False
    return None


def device_class(user_agent: str, headers: Mapping[str, str] | None = None) -> str:
    """Classify a request as ``"mobile"``, ``"tablet"``, ``"desktop"`` or ``"bot"``.

    ``headers`` may carry the ``Sec-CH-UA-Mobile`` Client Hint under any name case.
    A missing or blank User-Agent is a ``"bot"``. Never raises for a ``str``
    User-Agent. Results are cached: ``device_class.cache_clear()`` empties the cache,
    ``device_class.cache_info()`` reports on it.
    """
    hint = _mobile_hint(headers) if headers else None
    return _classify(user_agent[:MAX_USER_AGENT], hint)


# Exposed as attributes so callers (benchmarks, tests) can measure cold cost; typed
# callers see a plain function, hence the ignores here and at their call sites.
device_class.cache_clear = _classify.cache_clear  # type: ignore[attr-defined]
device_class.cache_info = _classify.cache_info  # type: ignore[attr-defined]
