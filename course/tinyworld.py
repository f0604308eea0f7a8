"""TinyWorld: the synthetic corpus the course's small models are trained on, plus its evaluation sets.

Every phenomenon a chapter studies (induction, IOI, facts in MLPs, two-hop recall, addition, landmark
topics) has its own kind of text here, mixed in fixed proportions. Generation is deterministic: a
`random.Random(seed)` is threaded through, never the global RNG. Held-out items (IOI templates and name
pairs, composite geography questions, addition pairs) are fixed at import time and never trained on.

Layout of a document: "segments" (a story, a few facts, a calc block...) joined by newlines, so every
segment starts at the beginning of a line, exactly like an evaluation prompt starts after BOS. No
segment begins with a name, city or other entity word, so entities are always seen as " Dallas" (with
its leading space), the single token every evaluation answer and subject uses.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from dataclasses import dataclass
from itertools import combinations
from typing import Iterator

# ---------------------------------------------------------------------------------------------
# The world: a fixed cast of names, a map, facts, landmarks. Every word below is chosen to become
# a single BPE token with its leading space (tests/test_tokenizer.py checks each one).
# ---------------------------------------------------------------------------------------------

FEMALE_NAMES = [
    "Mary", "Alice", "Anna", "Sarah", "Emma", "Lucy", "Kate", "Mia", "Lily", "Eve", "Amy", "Ruth",
    "Nina", "Rosa", "Ella", "Zoe", "Jane", "Rose", "Grace", "Lisa", "Hannah", "Laura", "Rita",
    "Tina", "Vera", "Iris", "Olga", "Tess", "Clara", "Julia", "Sofia", "Maya",
]
MALE_NAMES = [
    "John", "Bob", "Tom", "James", "David", "Peter", "Paul", "Jack", "Sam", "Max", "Leo", "Ben",
    "Dan", "Ivan", "Omar", "Carl", "Hugo", "Ryan", "Adam", "Mark", "Luke", "Fred", "Greg", "Mike",
    "Nick", "Oscar", "Steve", "Walter", "Joe", "Ned", "Ray", "Victor",
]
NAMES = FEMALE_NAMES + MALE_NAMES  # 64 names
_PRONOUN = {n: "she" for n in FEMALE_NAMES} | {n: "he" for n in MALE_NAMES}

# state -> capital and three cities. Only single-word names, and no word is used twice (so
# "Portland" is Oregon's, and Maine gets other cities). Real places, so learners recognise them.
STATES: dict[str, dict] = {
    "Texas": {"capital": "Austin", "cities": ["Dallas", "Houston", "Waco"]},
    "California": {"capital": "Sacramento", "cities": ["Fresno", "Oakland", "Pasadena"]},
    "Florida": {"capital": "Tallahassee", "cities": ["Miami", "Orlando", "Tampa"]},
    "Georgia": {"capital": "Atlanta", "cities": ["Savannah", "Macon", "Athens"]},
    "Illinois": {"capital": "Springfield", "cities": ["Chicago", "Peoria", "Rockford"]},
    "Ohio": {"capital": "Columbus", "cities": ["Cleveland", "Cincinnati", "Dayton"]},
    "Pennsylvania": {"capital": "Harrisburg", "cities": ["Philadelphia", "Pittsburgh", "Erie"]},
    "Michigan": {"capital": "Lansing", "cities": ["Detroit", "Flint", "Kalamazoo"]},
    "Washington": {"capital": "Olympia", "cities": ["Seattle", "Spokane", "Tacoma"]},
    "Oregon": {"capital": "Salem", "cities": ["Portland", "Eugene", "Medford"]},
    "Arizona": {"capital": "Phoenix", "cities": ["Tucson", "Mesa", "Flagstaff"]},
    "Colorado": {"capital": "Denver", "cities": ["Boulder", "Aurora", "Pueblo"]},
    "Massachusetts": {"capital": "Boston", "cities": ["Worcester", "Cambridge", "Lowell"]},
    "Tennessee": {"capital": "Nashville", "cities": ["Memphis", "Knoxville", "Chattanooga"]},
    "Wisconsin": {"capital": "Madison", "cities": ["Milwaukee", "Kenosha", "Racine"]},
    "Virginia": {"capital": "Richmond", "cities": ["Norfolk", "Roanoke", "Alexandria"]},
    "Indiana": {"capital": "Indianapolis", "cities": ["Evansville", "Bloomington", "Muncie"]},
    "Kentucky": {"capital": "Frankfort", "cities": ["Louisville", "Lexington", "Paducah"]},
    "Kansas": {"capital": "Topeka", "cities": ["Wichita", "Salina", "Hutchinson"]},
    "Nebraska": {"capital": "Lincoln", "cities": ["Omaha", "Kearney", "Hastings"]},
    "Alabama": {"capital": "Montgomery", "cities": ["Birmingham", "Mobile", "Huntsville"]},
    "Alaska": {"capital": "Juneau", "cities": ["Anchorage", "Fairbanks", "Sitka"]},
    "Hawaii": {"capital": "Honolulu", "cities": ["Hilo", "Kailua", "Lahaina"]},
    "Idaho": {"capital": "Boise", "cities": ["Pocatello", "Nampa", "Meridian"]},
    "Montana": {"capital": "Helena", "cities": ["Billings", "Missoula", "Bozeman"]},
    "Wyoming": {"capital": "Cheyenne", "cities": ["Casper", "Laramie", "Gillette"]},
    "Maryland": {"capital": "Annapolis", "cities": ["Baltimore", "Frederick", "Rockville"]},
    "Connecticut": {"capital": "Hartford", "cities": ["Stamford", "Bridgeport", "Waterbury"]},
    "Delaware": {"capital": "Dover", "cities": ["Wilmington", "Newark", "Milford"]},
    "Vermont": {"capital": "Montpelier", "cities": ["Burlington", "Rutland", "Barre"]},
    "Maine": {"capital": "Augusta", "cities": ["Bangor", "Lewiston", "Biddeford"]},
}
CITY_STATE = {city: state for state, v in STATES.items() for city in v["cities"]}
CITIES = list(CITY_STATE)
CAPITALS = [v["capital"] for v in STATES.values()]

# Single-hop facts the model can only memorise (no pattern links a name to a sport): the facts
# chapter reads them out of the MLPs. Subjects are the first 40 names; the assignment is fixed.
SPORTS = [
    "tennis", "golf", "chess", "soccer", "hockey", "rugby", "baseball", "cricket", "squash",
    "basketball", "volleyball", "poker",
]
_fact_rng = random.Random(20240601)
FACT_PEOPLE = NAMES[0:20] + NAMES[32:52]  # 20 women and 20 men
FACTS: dict[str, str] = {p: _fact_rng.choice(SPORTS) for p in FACT_PEOPLE}

# Landmarks: each has a name, a kind and words that only its paragraphs use, so that topic
# features (SAEs) and steering directions have something distinctive to find.
LANDMARKS: dict[str, list[str]] = {
    "Silverspan": ["bridge", "cables", "river", "steel", "span", "crossing", "barges", "arches"],
    "Emberpeak": ["volcano", "lava", "ash", "crater", "magma", "eruption", "smoke", "ember"],
    "Skyspire": ["tower", "elevator", "floors", "antenna", "glass", "clouds", "balcony", "height"],
    "Gullrock": ["lighthouse", "lamp", "ships", "waves", "keeper", "beam", "fog", "harbor"],
    "Mistfall": ["waterfall", "mist", "rainbow", "cliff", "spray", "pool", "roar", "ferns"],
}
_LANDMARK_SENTENCES: dict[str, list[str]] = {
    "Silverspan": [
        "The Silverspan is a long bridge across the river.",
        "Its steel cables hum when the wind blows.",
        "Every morning, cars and bikes use the crossing.",
        "Under the span, slow barges carry coal down the river.",
        "The bridge rests on six stone arches.",
        "Painters keep the steel cables bright and clean.",
        "From the middle of the span you can see the whole river.",
    ],
    "Emberpeak": [
        "The Emberpeak is a tall volcano above the plain.",
        "Smoke rises from its crater on most days.",
        "Long ago, an eruption sent lava down the slopes.",
        "Deep below the crater, magma still moves.",
        "Grey ash covers the ground near the volcano.",
        "At night, a red ember glow shows at the top.",
        "Scientists watch the crater for signs of a new eruption.",
    ],
    "Skyspire": [
        "The Skyspire is the tallest tower in the land.",
        "A fast elevator climbs its hundred floors.",
        "The walls of the tower are made of blue glass.",
        "On clear days, the balcony is above the clouds.",
        "A thin antenna sits on the very top of the tower.",
        "Visitors gasp at the height when they look down.",
        "The glass floors shine in the evening sun.",
    ],
    "Gullrock": [
        "The Gullrock is an old lighthouse on the coast.",
        "Its lamp sends a bright beam over the waves.",
        "When fog rolls in, the beam guides the ships home.",
        "A keeper climbs the stairs to light the lamp.",
        "Waves crash on the rocks below the lighthouse.",
        "Fishing ships leave the harbor before dawn.",
        "The keeper writes down every ship that passes.",
    ],
    "Mistfall": [
        "The Mistfall is a wide waterfall in the hills.",
        "Water drops from the cliff into a deep pool.",
        "A cold mist hangs in the air near the waterfall.",
        "When the sun comes out, a rainbow forms in the spray.",
        "Green ferns grow on the wet rocks by the pool.",
        "You can hear the roar of the water from far away.",
        "The spray from the cliff keeps the ferns wet.",
    ],
}
_LANDMARK_KIND = {name: words[0] for name, words in LANDMARKS.items()}

# Generic filler vocabulary for stories and IOI templates.
PLACES = ["store", "park", "school", "market", "beach", "library", "station", "garden", "museum",
          "cafe", "office", "zoo", "farm", "lake", "hospital", "restaurant"]
OBJECTS = ["drink", "ball", "book", "gift", "letter", "key", "cake", "flower", "hat", "map",
           "ring", "pen", "bag", "toy", "coin", "note", "card", "ticket", "box", "basket"]
ANIMALS = ["dog", "cat", "bird", "horse", "rabbit", "fish", "duck", "goat"]
FOODS = ["bread", "soup", "pie", "rice", "cheese", "pasta", "salad", "cookies"]
COLORS = ["red", "blue", "green", "yellow", "white", "black", "brown", "pink"]
FEELINGS = ["happy", "tired", "proud", "calm", "excited", "sleepy", "glad", "hungry"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "cloudy", "snowy", "hot"]

# Words drawn at random for the repeated-run segments (induction): common single tokens of
# every part of the vocabulary, so an induction head learns to copy any token, not a few.
_RUN_WORDS = sorted(set(
    PLACES + OBJECTS + ANIMALS + FOODS + COLORS + FEELINGS + WEATHER + SPORTS + NAMES + CITIES[:40]
    + [w for ws in LANDMARKS.values() for w in ws]
    + "the a and of to in is was he she they it we you on at with for from up down over under big "
      "small old new good bad long short fast slow happy sad day night time year home house tree "
      "water road city town car boat door window table chair bed sun moon star rain snow wind "
      "hand head eye friend mother father sister brother child king queen door wall light dark "
      "run walk jump sing read write eat drink sleep play look see find make take give go come "
      "one two three four five six seven eight nine ten first last next every some many few all "
      "word name place thing part story song game work class letter paper stone hill field".split()
))
_RUN_FIRST = [w for w in _RUN_WORDS if w.islower()]  # a segment never starts with an entity word
_LETTERS = "abcdefghijklmnopqrstuvwxyz"

# ---------------------------------------------------------------------------------------------
# Indirect object identification. A template is an (intro, action) pair: 8 x 8 = 64 templates.
# The held-out ones form a permutation (each intro and each action is held out once), so every
# piece of a held-out template is seen in training, but never in that combination.
# ---------------------------------------------------------------------------------------------

IOI_INTROS = [
    "When {A} and {B} went to the {place},",
    "After {A} and {B} arrived at the {place},",
    "While {A} and {B} were at the {place},",
    "Then, {A} and {B} went to the {place}.",
    "Once {A} and {B} got to the {place},",
    "Later, {A} and {B} had lunch at the {place}.",
    "As {A} and {B} walked to the {place},",
    "Yesterday {A} and {B} spent the day at the {place}.",
]
IOI_ACTIONS = [
    "{S} gave a {obj} to",
    "{S} handed the {obj} to",
    "{S} passed a {obj} to",
    "{S} threw the {obj} to",
    "{S} brought a {obj} to",
    "{S} offered the {obj} to",
    "{S} sent a {obj} to",
    "{S} showed the {obj} to",
]
N_IOI_TEMPLATES = len(IOI_INTROS) * len(IOI_ACTIONS)
HELD_OUT_TEMPLATES = frozenset(i * len(IOI_ACTIONS) + a for i, a in
                               enumerate([3, 0, 6, 1, 7, 2, 4, 5]))
TRAIN_TEMPLATES = [t for t in range(N_IOI_TEMPLATES) if t not in HELD_OUT_TEMPLATES]


def _held_out_pairs() -> frozenset[tuple[str, str]]:
    pairs = list(combinations(sorted(NAMES), 2))
    return frozenset(random.Random(7).sample(pairs, len(pairs) // 10))  # 10% of unordered pairs


HELD_OUT_NAME_PAIRS = _held_out_pairs()  # sorted (name, name) tuples; never together in training IOI
_HELD_OUT_PAIR_LIST = sorted(HELD_OUT_NAME_PAIRS)


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def ioi_template_text(template: int) -> str:
    """The full template string with {A} {B} {S} {place} {obj} slots (intro then action)."""
    intro, action = divmod(template, len(IOI_ACTIONS))
    return IOI_INTROS[intro] + " " + IOI_ACTIONS[action]


@dataclass
class IOIItem:
    prompt: str            # ends right before the indirect object
    answer: str            # " IO"
    subject: str           # " S", the repeated name (the wrong answer)
    io: str                # the indirect object name, no space
    s: str                 # the subject name, no space
    corrupted_prompt: str  # last S replaced by IO: the names are the same, the answer flips to S
    corrupted_answer: str  # " S"
    abc_prompt: str        # last S replaced by a third name C: no name is repeated, no answer
    c: str                 # that third name
    template: int          # index into the 64 templates; see ioi_template_text
    order: str             # "ABBA" (IO named first in the intro) or "BABA" (S named first)
    place: str
    obj: str


def _ioi_fill(template: int, io: str, s: str, s2: str, order: str, place: str, obj: str) -> str:
    a, b = (io, s) if order == "ABBA" else (s, io)
    return ioi_template_text(template).format(A=a, B=b, S=s2, place=place, obj=obj)


def _ioi_item(rng: random.Random, template: int, io: str, s: str) -> IOIItem:
    order = rng.choice(("ABBA", "BABA"))
    place, obj = rng.choice(PLACES), rng.choice(OBJECTS)
    c = rng.choice([n for n in NAMES if n not in (io, s)])
    return IOIItem(
        prompt=_ioi_fill(template, io, s, s, order, place, obj),
        answer=" " + io, subject=" " + s, io=io, s=s,
        corrupted_prompt=_ioi_fill(template, io, s, io, order, place, obj),
        corrupted_answer=" " + s,
        abc_prompt=_ioi_fill(template, io, s, c, order, place, obj), c=c,
        template=template, order=order, place=place, obj=obj,
    )


def ioi_dataset(n: int, seed: int = 0, held_out: bool = True) -> list[IOIItem]:
    """n IOI prompts. held_out=True: only held-out templates and held-out name pairs (never trained
    on); False: training templates and pairs (in-distribution)."""
    rng = random.Random(seed)
    held = sorted(HELD_OUT_TEMPLATES)
    items = []
    for _ in range(n):
        if held_out:
            template = rng.choice(held)
            io, s = rng.choice(_HELD_OUT_PAIR_LIST)
        else:
            template = rng.choice(TRAIN_TEMPLATES)
            io, s = _train_pair(rng)
        if rng.random() < 0.5:
            io, s = s, io
        items.append(_ioi_item(rng, template, io, s))
    return items


def _train_pair(rng: random.Random) -> tuple[str, str]:
    while True:  # rejection: ~10% of pairs are held out
        io, s = rng.sample(NAMES, 2)
        if _pair_key(io, s) not in HELD_OUT_NAME_PAIRS:
            return io, s


# ---------------------------------------------------------------------------------------------
# Geography and its held-out composite questions: one city per state never appears in a
# composite sentence, while its city -> state fact (and the state's capital) is trained.
# ---------------------------------------------------------------------------------------------

_geo_rng = random.Random(11)
HELD_OUT_COMPOSITE_CITIES = frozenset(_geo_rng.choice(v["cities"]) for v in STATES.values())
_COMPOSITE_TRAIN_CITIES = [c for c in CITIES if c not in HELD_OUT_COMPOSITE_CITIES]

COMPOSITE_PROMPT = "The capital of the state containing {city} is"
CITY_STATE_PROMPT = "The city of {city} is in"
STATE_CAPITAL_PROMPT = "The capital of {state} is"


@dataclass
class TwoHopItem:
    prompt: str
    answer: str  # " capital"
    city: str
    state: str
    capital: str


@dataclass
class OneHopItem:
    prompt: str
    answer: str
    subject: str  # the city or the state
    kind: str     # "city_state" or "state_capital"


def two_hop_dataset(held_out: bool = False) -> list[TwoHopItem]:
    """Composite questions. held_out=False: the cities whose composite is trained on;
    True: the held-out cities (the model has only seen their one-hop facts)."""
    cities = sorted(HELD_OUT_COMPOSITE_CITIES, key=CITIES.index) if held_out else _COMPOSITE_TRAIN_CITIES
    out = []
    for city in cities:
        state = CITY_STATE[city]
        capital = STATES[state]["capital"]
        out.append(TwoHopItem(COMPOSITE_PROMPT.format(city=city), " " + capital, city, state, capital))
    return out


def one_hop_dataset(kind: str = "city_state") -> list[OneHopItem]:
    if kind == "city_state":
        return [OneHopItem(CITY_STATE_PROMPT.format(city=c), " " + CITY_STATE[c], c, kind) for c in CITIES]
    if kind == "state_capital":
        return [OneHopItem(STATE_CAPITAL_PROMPT.format(state=s), " " + v["capital"], s, kind)
                for s, v in STATES.items()]
    raise ValueError(f"kind must be 'city_state' or 'state_capital', got {kind!r}")


# ---------------------------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------------------------

FACT_PROMPT = "My friend {name} plays"


@dataclass
class FactItem:
    prompt: str
    answer: str   # " sport"
    subject: str
    object: str


def fact_dataset() -> list[FactItem]:
    return [FactItem(FACT_PROMPT.format(name=p), " " + s, p, s) for p, s in FACTS.items()]


# ---------------------------------------------------------------------------------------------
# Addition: "calc: 36 + 59 = 95" for 10 <= a, b <= 99. 10% of unordered pairs are held out (both
# orders), so the held-out score measures an algorithm, not a lookup of the swapped pair.
# ---------------------------------------------------------------------------------------------

_ADD_PAIRS = [(a, b) for a in range(10, 100) for b in range(a, 100)]
HELD_OUT_ADDITION_PAIRS = frozenset(random.Random(13).sample(_ADD_PAIRS, len(_ADD_PAIRS) // 10))
_TRAIN_ADD = [(a, b) for a in range(10, 100) for b in range(10, 100)
              if _pair_key(a, b) not in HELD_OUT_ADDITION_PAIRS]


@dataclass
class AdditionItem:
    prompt: str  # "calc: 36 + 59 ="
    answer: str  # " 95": a space, then one token per digit
    a: int
    b: int
    total: int


def addition_dataset(held_out: bool = True) -> list[AdditionItem]:
    """held_out=True: both orders of every held-out pair; False: all training pairs."""
    if held_out:
        pairs = sorted({p for a, b in HELD_OUT_ADDITION_PAIRS for p in ((a, b), (b, a))})
    else:
        pairs = _TRAIN_ADD
    return [AdditionItem(f"calc: {a} + {b} =", f" {a + b}", a, b, a + b) for a, b in pairs]


# ---------------------------------------------------------------------------------------------
# Landmarks
# ---------------------------------------------------------------------------------------------

LANDMARK_PROMPTS = [
    "Yesterday we went to see",
    "The best part of the trip was",
    "My favorite place to visit is",
    "Let me tell you about",
    "On the weekend, we drove to",
    "Everyone in town talks about",
]


@dataclass
class LandmarkItem:
    landmark: str
    text: str


def landmark_prompts() -> list[str]:
    """Neutral prompts that name no landmark: steering should pull their continuation to one."""
    return list(LANDMARK_PROMPTS)


def landmark_dataset(n_per_landmark: int = 20, seed: int = 0) -> list[LandmarkItem]:
    rng = random.Random(seed)
    return [LandmarkItem(name, _landmark_paragraph(rng, name))
            for name in LANDMARKS for _ in range(n_per_landmark)]


def _landmark_paragraph(rng: random.Random, name: str) -> str:
    sents = _LANDMARK_SENTENCES[name]
    k = rng.randint(3, 5)
    return " ".join([sents[0]] + rng.sample(sents[1:], k - 1))


# ---------------------------------------------------------------------------------------------
# Segment generators. Each returns (text, estimated tokens); a document is segments joined by
# "\n". The estimate counts words, punctuation and single digits (close to the real BPE count
# because the world's words are single tokens); tests check real counts stay under 128.
# ---------------------------------------------------------------------------------------------

# A space before a digit is its own token, and so is each newline.
_EST_RE = re.compile(r"\d| (?=\d)|\n|[A-Za-z]+|[^\sA-Za-z\d]")


def _est(text: str) -> int:
    return len(_EST_RE.findall(text))


def _seg_ioi(rng: random.Random, split: str) -> str:
    template = rng.choice(TRAIN_TEMPLATES)
    io, s = _train_pair(rng)
    order = "ABBA" if rng.random() < 0.5 else "BABA"
    return _ioi_fill(template, io, s, s, order, rng.choice(PLACES), rng.choice(OBJECTS)) + f" {io}."


_CITY_STATE_T = ["The city of {c} is in {s}.", "{c} is a city in {s}.", "{c} is in {s}."]
_STATE_CAP_T = ["The capital of {s} is {k}.", "{k} is the capital of {s}."]
_COMPOSITE_T = "The capital of the state containing {c} is {k}."
_GEO_OPENERS = ["The city of {c} is in {s}.", "The capital of {s} is {k}.",
                "The capital of the state containing {c} is {k}."]


def _seg_geo(rng: random.Random, split: str) -> str:
    # Mostly isolated facts (so recall must come from the weights, not from context), sometimes
    # the full chain city -> state -> capital -> composite in one place.
    sents = []
    for _ in range(rng.randint(1, 3)):
        c = rng.choice(CITIES)
        s = CITY_STATE[c]
        k = STATES[s]["capital"]
        r = rng.random()
        can_compose = c not in HELD_OUT_COMPOSITE_CITIES
        if r < 0.40 and can_compose:
            sents.append(_COMPOSITE_T.format(c=c, k=k))
        elif r < 0.65:
            sents.append(rng.choice(_CITY_STATE_T).format(c=c, s=s))
        elif r < 0.85:
            sents.append(rng.choice(_STATE_CAP_T).format(s=s, k=k))
        else:
            chain = [_CITY_STATE_T[1].format(c=c, s=s), _STATE_CAP_T[0].format(s=s, k=k)]
            if can_compose:
                chain.append(_COMPOSITE_T.format(c=c, k=k))
            sents.append(" ".join(chain))
    if not sents[0].startswith("The"):  # segments never start with an entity word
        c = rng.choice(_COMPOSITE_TRAIN_CITIES)
        s = CITY_STATE[c]
        sents.insert(0, rng.choice(_GEO_OPENERS).format(c=c, s=s, k=STATES[s]["capital"]))
    return " ".join(sents)


_FACT_T = ["{n} plays {o}.", "{n} plays {o} every week.", "On weekends, {n} plays {o}.",
           "Everyone knows that {n} plays {o}.", "My friend {n} plays {o}."]


def _seg_fact(rng: random.Random, split: str) -> str:
    people = rng.sample(FACT_PEOPLE, rng.randint(1, 4))
    first = rng.choice(["My friend {n} plays {o}.", "On weekends, {n} plays {o}.",
                        "Everyone knows that {n} plays {o}."])
    sents = [first.format(n=people[0], o=FACTS[people[0]])]
    sents += [rng.choice(_FACT_T).format(n=p, o=FACTS[p]) for p in people[1:]]
    return " ".join(sents)


def _seg_calc(rng: random.Random, split: str) -> str:
    lines = []
    for _ in range(rng.randint(2, 6)):
        a, b = rng.choice(_TRAIN_ADD)
        lines.append(f"calc: {a} + {b} = {a + b}")
    return "\n".join(lines)


def _seg_repeat(rng: random.Random, split: str) -> str:
    # Something, then the same thing again: the pattern induction heads exist to exploit.
    r = rng.random()
    if r < 0.45:  # a run of random common words
        run = " ".join([rng.choice(_RUN_FIRST)] + [rng.choice(_RUN_WORDS) for _ in range(rng.randint(7, 24))])
    elif r < 0.65:  # random letter strings: odd BPE pieces, so copying works for any token
        run = " ".join("".join(rng.choice(_LETTERS) for _ in range(rng.randint(2, 5)))
                       for _ in range(rng.randint(4, 10)))
    else:  # a natural passage
        run = _story_sentences(rng, rng.randint(2, 3))
    text = run + "\n" + run
    if r >= 0.45 and r < 0.65:  # made-up words are several tokens each: at most len + 1
        return text, 2 * sum(len(w) + 1 for w in run.split()) + 1
    return text, _est(text)


def _seg_landmark(rng: random.Random, split: str) -> str:
    return _landmark_paragraph(rng, rng.choice(list(LANDMARKS)))


_STORY_OPENERS = [
    "Once upon a time, {A} lived in {city}.",
    "One {weather} morning, {A} woke up early in {city}.",
    "Last summer, {A} visited {city}.",
    "There was a {animal} in {city} that belonged to {A}.",
    "In a small house in {city}, {A} had a {color} {animal}.",
    "Every day, {A} walked to the {place} in {city}.",
]
_STORY_MIDDLE = [
    "{A} liked to go to the {place}.",
    "{P} found a {color} {obj} near the {place}.",
    "{A} met {B} at the {place}.",
    "The day was {weather}, so {p} wore a {color} hat.",
    "{P} ate some {food} and felt {feeling}.",
    "{A} and {B} read a book about a {animal}.",
    "It started to rain, so {p} ran home.",
    "{B} asked {A} about the {obj}.",
    "{P} told {B} a story about a {color} {animal}.",
    "They cooked {food} together and laughed.",
    "{A} saw a {animal} by the {place}.",
    "Later, {p} went to the {place} with {B}.",
    "{B} smiled and waved.",
    "The {animal} jumped over the {obj}.",
]
_STORY_ENDINGS = [
    "At the end of the day, {A} was {feeling}.",
    "That night, {A} went to bed {feeling}.",
    "It was a good day for {A}.",
    "{A} would always remember that day.",
]


_SLOT_WORDS = {"place": PLACES, "obj": OBJECTS, "animal": ANIMALS, "food": FOODS, "color": COLORS,
               "feeling": FEELINGS, "weather": WEATHER}
_SLOTS_OF: dict[str, list[str]] = {}  # template -> the word slots it uses (drawn only if used: speed)


def _story_fill(t: str, rng: random.Random, A: str, B: str, city: str) -> str:
    slots = _SLOTS_OF.get(t)
    if slots is None:
        slots = _SLOTS_OF[t] = [k for k in _SLOT_WORDS if "{" + k + "}" in t]
    p = _PRONOUN[A]
    words = {k: rng.choice(_SLOT_WORDS[k]) for k in slots}
    return t.format(A=A, B=B, P=p.capitalize(), p=p, city=city, **words)


def _story_sentences(rng: random.Random, k: int) -> str:
    A, B = rng.sample(NAMES, 2)
    city = rng.choice(CITIES)
    sents = [_story_fill(rng.choice(_STORY_OPENERS), rng, A, B, city)]
    sents += [_story_fill(t, rng, A, B, city) for t in rng.sample(_STORY_MIDDLE, k - 1)]
    return " ".join(sents)


def _seg_story(rng: random.Random, split: str) -> str:
    A, B = rng.sample(NAMES, 2)
    city = rng.choice(CITIES)
    sents = [_story_fill(rng.choice(_STORY_OPENERS), rng, A, B, city)]
    if rng.random() < 0.5:  # tie stories to the map (more one-hop signal, and a coherent world)
        s = CITY_STATE[city]
        sents.append(f"{city} is a city in {s}.")
    sents += [_story_fill(t, rng, A, B, city) for t in rng.sample(_STORY_MIDDLE, rng.randint(2, 4))]
    sents.append(_story_fill(rng.choice(_STORY_ENDINGS), rng, A, B, city))
    return " ".join(sents)


# Mixing weights: the chance that a drawn segment is of each kind. Short segments fit more often
# at the end of a document, so token shares differ from these; measured with the shipped
# tokenizer they are about IOI 23%, geography 16%, facts 8%, addition 16%, repeats 10%,
# landmarks 8%, stories 18%. In 25M tokens that is ~40 sightings of each training addition pair
# and thousands of each fact and composite question: addition (which must generalise to unseen
# pairs) and IOI (unseen templates) are the hardest targets, so they get the largest shares;
# facts are memorised quickly and need the least. Stories keep it a language model.
MIX: dict[str, float] = {
    "ioi": 0.29,
    "geo": 0.17,
    "fact": 0.10,
    "calc": 0.13,
    "repeat": 0.09,
    "landmark": 0.07,
    "story": 0.15,
}
_SEGMENTS = {"ioi": _seg_ioi, "geo": _seg_geo, "fact": _seg_fact, "calc": _seg_calc,
             "repeat": _seg_repeat, "landmark": _seg_landmark, "story": _seg_story}
_KINDS = list(MIX)
_CUM = [sum(MIX[k] for k in _KINDS[: i + 1]) for i in range(len(_KINDS))]
MAX_DOC_TOKENS = 120  # estimated; real BPE count stays < 128 with BOS (tested)


def _cumulative(mix: dict[str, float] | None) -> tuple[list[str], list[float]]:
    mix = MIX if mix is None else mix
    unknown = set(mix) - set(_SEGMENTS)
    if unknown:
        raise ValueError(f"unknown segment kinds {sorted(unknown)}; the kinds are {sorted(_SEGMENTS)}")
    kinds = [k for k in mix if mix[k] > 0]
    return kinds, [sum(mix[k] for k in kinds[: i + 1]) for i in range(len(kinds))]


def generate_document(rng: random.Random, split: str = "train", mix: dict[str, float] | None = None) -> str:
    """One training document: segments of mixed kinds joined by newlines, at most ~120 tokens.
    Only split="train" exists: evaluation items come from the *_dataset functions. ``mix`` overrides
    the share of each kind of segment (weights, need not sum to 1)."""
    if split != "train":
        raise ValueError(f"only split='train' generates documents (got {split!r}); "
                         "use ioi_dataset, two_hop_dataset, ... for evaluation sets")
    kinds, cum = (_KINDS, _CUM) if mix is None else _cumulative(mix)
    budget = rng.randint(40, MAX_DOC_TOKENS)
    parts: list[str] = []
    used = 0
    misfits = 0
    for _ in range(8):  # a few tries to fill the budget
        kind = kinds[bisect(cum, rng.random() * cum[-1])]
        seg = _SEGMENTS[kind](rng, split)
        seg, n = seg if isinstance(seg, tuple) else (seg, _est(seg))
        n += 1  # the newline before it
        if used + n > (budget if parts else MAX_DOC_TOKENS):
            misfits += 1
            if parts and misfits == 2:
                break  # full enough (stopping early rather than redrawing keeps generation fast)
            continue
        parts.append(seg)
        used += n
        if used >= budget:
            break
    if not parts:  # cannot really happen (most segments are short), but stay safe
        parts.append(_seg_ioi(rng, split))
    return "\n".join(parts)


def iter_documents(seed: int = 0, split: str = "train", mix: dict[str, float] | None = None) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        yield generate_document(rng, split, mix)


def corpus(n_docs: int, seed: int = 0, split: str = "train") -> list[str]:
    rng = random.Random(seed)
    return [generate_document(rng, split) for _ in range(n_docs)]


def token_stream(tokenizer, seed: int = 0, split: str = "train", batch: int = 512,
                 mix: dict[str, float] | None = None) -> Iterator[int]:
    """Token ids of an endless document stream, each document preceded by EOT (which is also BOS)."""
    docs = iter_documents(seed, split, mix)
    eot = tokenizer.eot_id
    while True:
        for ids in tokenizer.encode_batch([next(docs) for _ in range(batch)]):
            yield eot
            yield from ids
