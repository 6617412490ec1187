"""The bank's sources (`knowledge/SOURCES.md`): who said it, shown under every answer.

Each pair's `source` column holds codes such as "D3; I6"; the table maps a code to its
publisher, in Sinhala as a farmer reads it, and to a reference an officer can look up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SOURCES_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "SOURCES.md"
SOURCE_LABEL = "මූලාශ්‍රය"
_ROW = re.compile(r"^\|\s*([A-Za-z][\w-]*)\s*\|\s*(.+?)\s*\|\s*(.*?)\s*\|\s*$")
_GENERAL = re.compile(r"\s*\*\(general principle\)\*")


@dataclass(frozen=True)
class Source:
    code: str
    publisher: str
    reference: str
    general: bool = False  # a general rice principle, not a Sri Lankan recommendation


def read_sources(path: Path = SOURCES_PATH) -> dict[str, Source]:
    """Every code of the table in `path` (rows of `| code | publisher | reference |`)."""
    sources: dict[str, Source] = {}
    if not path.is_file():
        return sources
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line.strip())
        if match is None or match.group(1).lower() == "code":
            continue
        code, publisher, reference = match.groups()
        general = bool(_GENERAL.search(publisher))
        sources[code] = Source(code, _GENERAL.sub("", publisher).strip(), reference, general)
    return sources


def split_codes(source: str | None) -> list[str]:
    """The codes of a `source` cell: "D3; I6" -> ["D3", "I6"]."""
    return [code.strip() for code in re.split(r"[;,]", source or "") if code.strip()]


def source_line(source: str | None, sources: dict[str, Source]) -> str | None:
    """ "මූලාශ්‍රය: <publishers>" for a pair's codes, each publisher once, in order.

    Codes not in the table are left out (`agribot qa check` reports them); a pair citing
    none that resolve gets no line.

    Example:
        >>> sources = {
        ...     "D3": Source("D3", "කෘෂිකර්ම දෙපාර්තමේන්තුව", "Urea timing"),
        ...     "D10": Source("D10", "කෘෂිකර්ම දෙපාර්තමේන්තුව", "Seed paddy"),
        ...     "R1": Source("R1", "වී පර්යේෂණ හා සංවර්ධන ආයතනය", "BG 358"),
        ... }
        >>> source_line("D3; X9, D10; R1", sources)
        'මූලාශ්‍රය: කෘෂිකර්ම දෙපාර්තමේන්තුව; වී පර්යේෂණ හා සංවර්ධන ආයතනය'
        >>> source_line("X9", sources) is None
        True
    """
    publishers = list(
        dict.fromkeys(sources[code].publisher for code in split_codes(source) if code in sources)
    )
    if not publishers:
        return None
    return f"{SOURCE_LABEL}: " + "; ".join(publishers)
