"""The TinyWorld: its cast of people, its map and its facts, the vocabulary every corpus and
evaluation set draws from. Nothing here generates text (see `course.corpus`) or scores a model
(see `course.evalsets`).

Every entity word (names, cities, states, capitals, sports, animals, landmark words) is a single
token of the shipped tokenizer with its leading space (" Dallas"); tests/test_tokenizer.py checks.
"""

from __future__ import annotations

import random


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
PRONOUN = {n: "she" for n in FEMALE_NAMES} | {n: "he" for n in MALE_NAMES}
POSSESSIVE = {n: "her" for n in FEMALE_NAMES} | {n: "his" for n in MALE_NAMES}

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
LANDMARK_SENTENCES: dict[str, list[str]] = {
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

# A second attribute of the fact people (their pet), so that a person's token is worth enriching
# with everything known about them, as subjects are in real language models (Meng et al. 2022).
PETS: dict[str, str] = {p: _fact_rng.choice(ANIMALS) for p in FACT_PEOPLE}

# Words drawn at random for the repeated-run segments (induction): common single tokens of
# every part of the vocabulary, so an induction head learns to copy any token, not a few.
RUN_WORDS = sorted(set(
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
RUN_FIRST = [w for w in RUN_WORDS if w.islower()]  # the first corpus never starts a segment with an entity word
LETTERS = "abcdefghijklmnopqrstuvwxyz"
