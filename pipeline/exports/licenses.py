"""License strings as PMC and JATS write them ("CC BY", "http://creativecommons.org/licenses/by-nc/4.0/",
"This work is licensed under a Creative Commons Attribution-NonCommercial ...", "NO-CC CODE")
reduced to one short code, so an allow-list such as "only CC BY" can be applied to every row."""

from __future__ import annotations

import re

HF_IDS = {"CC BY": "cc-by-4.0", "CC BY-SA": "cc-by-sa-4.0", "CC BY-ND": "cc-by-nd-4.0", "CC BY-NC": "cc-by-nc-4.0",
          "CC BY-NC-SA": "cc-by-nc-sa-4.0", "CC BY-NC-ND": "cc-by-nc-nd-4.0", "CC0": "cc0-1.0"}
_ORDER = ("NC", "ND", "SA")
_URL = re.compile(r"creativecommons\.org/licenses/([a-z-]+)")
_SHORT = re.compile(r"\bcc[\s_-]*(by(?:[\s_-]*(?:nc|nd|sa)\b)*)", re.IGNORECASE)


def _cc(parts: set[str]) -> str:
    return "CC BY" + "".join(f"-{p}" for p in _ORDER if p in parts)


def license_code(text: str | None) -> str | None:
    """'CC BY', 'CC BY-NC-ND', 'CC0', 'NO-CC CODE', ... or None when the text names no known license."""
    if not text or not text.strip():
        return None
    low = " ".join(text.lower().split())
    if "no-cc code" in low:
        return "NO-CC CODE"
    if "publicdomain/zero" in low or re.search(r"\bcc0\b|\bcc[\s-]zero\b", low):
        return "CC0"
    m = _URL.search(low)
    if m and m.group(1).startswith("by"):
        return _cc({p.upper() for p in m.group(1).split("-")[1:]})
    m = _SHORT.search(low)
    if m:
        return _cc({p.upper() for p in re.split(r"[\s_-]+", m.group(1))[1:]})
    if "creative commons attribution" in low:
        parts = {"NC"} if re.search(r"non-?commercial", low) else set()
        parts |= {"ND"} if re.search(r"no-?\s?deriv", low) else set()
        parts |= {"SA"} if re.search(r"share-?\s?alike", low) else set()
        return _cc(parts)
    if "public domain" in low:
        return "CC0"
    return None
