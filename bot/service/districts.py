"""Sri Lanka's 25 districts and the agro-ecological zone most of each one's paddy is in.

Fertilizer doses and some timings differ by zone (Wet, Intermediate, Dry), and a farmer
knows their district, not their zone. A district can span zones (Ratnapura's Embilipitiya
is drier than Ratnapura town); answers given by zone say so. The Wet Zone districts are
those of the DOA's Wet Zone fertilizer recommendation (knowledge/SOURCES.md, D3); the
rest follow the IRRI/DOA agro-ecological map (I1, D2).
"""

from __future__ import annotations

from dataclasses import dataclass

WET, INTERMEDIATE, DRY = "wet", "intermediate", "dry"
ZONE_NAMES = {WET: "තෙත් කලාපය", INTERMEDIATE: "අතරමැදි කලාපය", DRY: "වියළි කලාපය"}


@dataclass(frozen=True)
class District:
    code: str
    name: str  # in Sinhala, as on the buttons
    zone: str


DISTRICTS: tuple[District, ...] = (
    District("ampara", "අම්පාර", DRY),
    District("anuradhapura", "අනුරාධපුරය", DRY),
    District("badulla", "බදුල්ල", INTERMEDIATE),
    District("batticaloa", "මඩකලපුව", DRY),
    District("colombo", "කොළඹ", WET),
    District("galle", "ගාල්ල", WET),
    District("gampaha", "ගම්පහ", WET),
    District("hambantota", "හම්බන්තොට", DRY),
    District("jaffna", "යාපනය", DRY),
    District("kalutara", "කළුතර", WET),
    District("kandy", "මහනුවර", WET),
    District("kegalle", "කෑගල්ල", WET),
    District("kilinochchi", "කිලිනොච්චිය", DRY),
    District("kurunegala", "කුරුණෑගල", INTERMEDIATE),
    District("mannar", "මන්නාරම", DRY),
    District("matale", "මාතලේ", INTERMEDIATE),
    District("matara", "මාතර", WET),
    District("monaragala", "මොණරාගල", DRY),
    District("mullaitivu", "මුලතිව්", DRY),
    District("nuwara_eliya", "නුවරඑළිය", WET),
    District("polonnaruwa", "පොළොන්නරුව", DRY),
    District("puttalam", "පුත්තලම", DRY),
    District("ratnapura", "රත්නපුර", WET),
    District("trincomalee", "ත්‍රිකුණාමලය", DRY),
    District("vavuniya", "වවුනියාව", DRY),
)
BY_CODE = {district.code: district for district in DISTRICTS}


def district(code: str) -> District | None:
    return BY_CODE.get(code)
