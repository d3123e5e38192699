"""English sentences for the evaluation corpus: never repeated, with numbers, names and punctuation.

Sentences come from templates filled by a seeded random generator, so the same seed always gives
the same text, and a different seed gives different text. Names and places are split between the
two corpus splits (`Vocabulary.for_split`): the held-out split speaks names that the tuning split
never contains. None of this text reuses the lighthouse-and-bread essay the engines were first
measured on (bench/long_text.txt, now removed).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

FIRST_NAMES = (
    "Maria",
    "Daniel",
    "Priya",
    "Tomasz",
    "Akira",
    "Fatima",
    "Liam",
    "Chloe",
    "Oluwaseun",
    "Ingrid",
    "Mateo",
    "Hannah",
    "Rafael",
    "Yuki",
    "Gabriel",
    "Amara",
    "Henrik",
    "Sofia",
    "Winston",
    "Leila",
    "Dmitri",
    "Beatrice",
    "Kwame",
    "Elena",
    "Connor",
    "Mei",
    "Arjun",
    "Rosalind",
    "Tobias",
    "Nadia",
    "Ezra",
    "Greta",
    "Marcus",
    "Ines",
    "Felix",
    "Aisha",
    "Patrick",
    "Lucia",
    "Omar",
    "Vivian",
    "Samuel",
    "Astrid",
    "Victor",
    "Noor",
)
LAST_NAMES = (
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Alvarez",
    "Kowalski",
    "Brennan",
    "Haddad",
    "Fitzgerald",
    "Nakamura",
    "Ferreira",
    "Schultz",
    "Oyelaran",
    "Castillo",
    "Whitaker",
    "Petrov",
    "Delacroix",
    "Mbeki",
    "Sorensen",
    "Quinlan",
    "Rossi",
    "Abernathy",
    "Yamamoto",
    "Gallagher",
    "Novak",
    "Hargreaves",
    "Ibrahim",
    "Ellison",
    "Varga",
    "Thornton",
)
PLACES = (
    "Lisbon",
    "Winnipeg",
    "Nairobi",
    "Glasgow",
    "Osaka",
    "Valparaiso",
    "Tallinn",
    "Adelaide",
    "Marseille",
    "Boulder",
    "Kraków",
    "Halifax",
    "Montevideo",
    "Bergen",
    "Pittsburgh",
    "Cork",
    "Hanoi",
    "Santa Fe",
    "Dresden",
    "Tucson",
    "Rotterdam",
    "Cape Town",
    "Quebec City",
    "Savannah",
    "Reykjavik",
    "Bristol",
    "Anchorage",
    "Porto",
    "Edinburgh",
    "Denver",
)
ORGANISATIONS = (
    "the city council",
    "the harbour authority",
    "the county library",
    "a small bakery",
    "the regional hospital",
    "the rowing club",
    "the weather service",
    "a family farm",
    "the science museum",
    "the railway company",
    "the night school",
    "a local radio station",
    "the botanical garden",
    "the fire brigade",
    "the chess club",
    "a bicycle workshop",
)
THINGS = (
    "umbrellas",
    "lanterns",
    "notebooks",
    "tomatoes",
    "bicycles",
    "violins",
    "blankets",
    "chairs",
    "maps",
    "batteries",
    "teacups",
    "postcards",
    "kites",
    "raincoats",
    "candles",
    "pumpkins",
    "telescopes",
    "sandwiches",
    "keys",
    "envelopes",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
ADJECTIVES = (
    "quiet",
    "crowded",
    "windy",
    "narrow",
    "bright",
    "muddy",
    "freezing",
    "peaceful",
    "noisy",
    "enormous",
    "tiny",
    "ancient",
    "modern",
    "dusty",
    "colourful",
    "sleepy",
)
FEELINGS = ("surprised", "relieved", "delighted", "puzzled", "annoyed", "grateful", "nervous")


@dataclass(frozen=True)
class Vocabulary:
    names: tuple[str, ...]
    surnames: tuple[str, ...]
    places: tuple[str, ...]

    @classmethod
    def for_split(cls, held_out: bool) -> Vocabulary:
        """Even-indexed names and places for tuning, odd-indexed for the held-out split."""
        start = 1 if held_out else 0
        return cls(FIRST_NAMES[start::2], LAST_NAMES[start::2], PLACES[start::2])


def _number(rng: random.Random) -> str:
    return str(rng.choice([rng.randint(2, 19), rng.randint(20, 99), rng.randint(100, 999)]))


def _year(rng: random.Random) -> str:
    return str(rng.randint(1890, 2031))


def _clock(rng: random.Random) -> str:
    return f"{rng.randint(1, 12)}:{rng.choice(['00', '15', '30', '45', '05', '20'])}"


def _price(rng: random.Random) -> str:
    return f"${rng.randint(2, 480)}.{rng.choice(['00', '50', '25', '99', '75'])}"


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


Template = Callable[[random.Random, Vocabulary], str]


def _templates() -> list[Template]:
    def person(r: random.Random, v: Vocabulary) -> str:
        return f"{r.choice(v.names)} {r.choice(v.surnames)}"

    return [
        lambda r, v: (
            f"On {r.choice(DAYS)}, {person(r, v)} drove from {r.choice(v.places)} to {r.choice(v.places)}, a trip of {_number(r)} miles."
        ),
        lambda r, v: (
            f'"Did you remember the {r.choice(THINGS)}?" asked {r.choice(v.names)}; nobody answered.'
        ),
        lambda r, v: (
            f"The meeting starts at {_clock(r)}, not at {_clock(r)}: please tell {r.choice(v.names)} and {r.choice(v.names)}."
        ),
        lambda r, v: (
            f"{r.choice(ORGANISATIONS).capitalize()} ordered {_number(r)} {r.choice(THINGS)} for {_price(r)} each."
        ),
        lambda r, v: (
            f"In {_year(r)}, {r.choice(v.places)} was {_a(r.choice(ADJECTIVES))} town with only {_number(r)} houses."
        ),
        lambda r, v: (
            f"{person(r, v)} was born on the {r.randint(2, 28)}th of {r.choice(MONTHS)}, {_year(r)}, in {r.choice(v.places)}."
        ),
        lambda r, v: (
            f"Wait, is that really {_number(r)} percent? {r.choice(v.names)} looked {r.choice(FEELINGS)}."
        ),
        lambda r, v: (
            f"The {r.choice(ADJECTIVES)} market in {r.choice(v.places)} sells {r.choice(THINGS)}, {r.choice(THINGS)}, and, on weekends, {r.choice(THINGS)}."
        ),
        lambda r, v: (
            f"Call {r.choice(v.names)} before {_clock(r)} on {r.choice(DAYS)}; after that, the office is closed."
        ),
        lambda r, v: (
            f"According to {r.choice(ORGANISATIONS)}, {_number(r)} people attended, which is {_number(r)} more than last year."
        ),
        lambda r, v: (
            f'{r.choice(v.names)} said, "I have lived in {r.choice(v.places)} for {_number(r)} years, and I still get lost."'
        ),
        lambda r, v: (
            f"The train to {r.choice(v.places)} (platform {r.randint(1, 12)}) leaves at {_clock(r)} and costs {_price(r)}."
        ),
        lambda r, v: (
            f"Why would anyone buy {_number(r)} {r.choice(THINGS)} on {_a(r.choice(ADJECTIVES))} {r.choice(DAYS)} afternoon?"
        ),
        lambda r, v: (
            f"First, {r.choice(v.names)} washed the {r.choice(THINGS)}; then {r.choice(v.names)} dried them; finally, everyone went home."
        ),
        lambda r, v: (
            f"{person(r, v)} won the prize in {_year(r)} with a score of {_number(r)} out of {r.randint(100, 999)}."
        ),
        lambda r, v: (
            f"It was {r.choice(ADJECTIVES)} and {r.choice(ADJECTIVES)} in {r.choice(v.places)} that {r.choice(MONTHS)}, so {r.choice(v.names)} stayed indoors."
        ),
        lambda r, v: (
            f"Please send {_number(r)} copies to {person(r, v)} at {r.choice(ORGANISATIONS)} by {r.choice(DAYS)}."
        ),
        lambda r, v: (
            f"Honestly, {r.choice(v.names)}, I was {r.choice(FEELINGS)} when the {r.choice(THINGS)} arrived {_number(r)} days late!"
        ),
        lambda r, v: (
            f"The bridge over the river at {r.choice(v.places)} is {_number(r)} metres long and was finished in {_year(r)}."
        ),
        lambda r, v: (
            f"{r.choice(v.names)} keeps {_number(r)} {r.choice(THINGS)} in the attic - nobody knows why."
        ),
        lambda r, v: (
            f"Room {r.randint(100, 999)}, on the {r.choice(['second', 'third', 'fifth', 'ninth'])} floor, is where {r.choice(ORGANISATIONS)} meets every {r.choice(DAYS)}."
        ),
        lambda r, v: (
            f'"Turn left at the {r.choice(ADJECTIVES)} church," said {r.choice(v.names)}, "then walk {_number(r)} steps."'
        ),
        lambda r, v: (
            f"A ticket from {r.choice(v.places)} to {r.choice(v.places)} cost {_price(r)} in {_year(r)}; today it costs far more."
        ),
        lambda r, v: (
            f"{person(r, v)} and {person(r, v)} repaired {_number(r)} {r.choice(THINGS)} for {r.choice(ORGANISATIONS)}."
        ),
        lambda r, v: (
            f"At {_clock(r)} the lights went out; at {_clock(r)} they came back on, and {r.choice(v.names)} cheered."
        ),
        lambda r, v: (
            f"Is the {r.choice(ADJECTIVES)} house on {r.choice(v.surnames)} Street still for sale, or did {r.choice(v.names)} buy it?"
        ),
    ]


def sentences(seed: int, held_out: bool, exclude: frozenset[str] = frozenset()) -> Iterator[str]:
    """An endless stream of distinct sentences; the same seed and split give the same stream."""
    rng = random.Random(seed)
    vocabulary = Vocabulary.for_split(held_out)
    templates = _templates()
    seen: set[str] = set(exclude)
    while True:
        sentence = rng.choice(templates)(rng, vocabulary)
        if sentence not in seen:
            seen.add(sentence)
            yield sentence
