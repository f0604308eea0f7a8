"""Everyday words for the TinyWorld v2 corpus: the parts its sentences are assembled from.

`course.world` holds the world's entities (people, places on the map, facts); this module holds the
ordinary vocabulary around them: things people hand each other, what they do, where and when. The
lists are long on purpose. A small model that sees "gave the ball to" a thousand times learns that
phrase; one that sees hundreds of verbs, objects and settings around the same two names has to
learn the rule that picks the name (Wang et al. 2022's IOI task) instead.

The first corpus (`course.corpus_v1`) does not use this module, so it stays byte-for-byte the same.
"""

from __future__ import annotations

# Things: what people hand, send, make, find.
THINGS = [
    "ball", "book", "gift", "letter", "key", "cake", "flower", "hat", "map", "ring", "pen", "bag", "toy",
    "coin", "note", "card", "ticket", "box", "basket", "cup", "plate", "lamp", "coat", "scarf", "shoe",
    "bottle", "blanket", "camera", "clock", "kite", "jar", "photo", "picture", "poem", "present",
    "radio", "rope", "shell", "spoon", "stone", "umbrella", "wallet", "watch", "bucket", "drum",
    "guitar", "ladder", "magazine", "mirror", "pillow", "puzzle", "sweater", "violin", "candle",
    "brush", "glove", "helmet", "notebook", "parcel", "apple", "orange", "banana", "drink",
]
FOODS = ["bread", "soup", "pie", "rice", "cheese", "pasta", "salad", "cookies", "pancakes", "noodles",
         "tea", "coffee", "juice", "milk", "lemonade", "pizza", "fruit", "beans", "eggs", "fish", "cake",
         "muffins", "stew", "toast", "chocolate", "popcorn", "grapes", "corn"]
PLACES = ["store", "park", "school", "market", "beach", "library", "station", "garden", "museum", "cafe",
          "office", "zoo", "farm", "lake", "hospital", "restaurant", "bakery", "cinema", "theater",
          "harbor", "river", "forest", "bank", "church", "gym", "hotel", "airport", "bridge", "castle",
          "stadium", "square", "pool", "kitchen", "shop", "village", "camp", "hill", "field", "yard",
          "playground", "fair", "concert", "party", "wedding", "festival", "meeting"]
# What two people (or one) did together: a verb phrase in the past tense.
ACTIVITIES = [
    "went to the {place}", "walked to the {place}", "drove to the {place}", "rode bikes to the {place}",
    "spent the morning at the {place}", "had lunch at the {place}", "had dinner at the {place}",
    "cooked {food} together", "baked {food} for the fair", "painted the fence", "planted some trees",
    "watched a film", "listened to the radio", "fixed an old {thing}", "looked for a {thing}",
    "sat by the {place}", "waited at the {place}", "got lost near the {place}", "sang in the choir",
    "worked on a puzzle", "built a {thing}", "went fishing", "went shopping", "went for a swim",
    "went for a walk", "took the bus to the {place}", "caught the train to {city}", "moved to {city}",
    "arrived in {city}", "came back from {city}", "cleaned the {place}", "visited the {place}",
    "talked about the {thing}", "studied for a test", "played a game", "played music",
    "danced at the {place}", "read books at the {place}", "wrote letters", "watched the birds",
    "fed the ducks", "climbed the {place} hill", "camped by the lake", "washed the car",
    "carried boxes", "picked apples", "sold {food} at the market", "shared a taxi", "missed the bus",
]
# Verb phrases that put the indirect object after "to" ({det}: "a" or "the").
GIVE_TO = ["gave", "handed", "passed", "threw", "brought", "offered", "sent", "showed", "sold", "tossed",
           "returned", "lent", "mailed", "delivered", "sent back", "carried", "slid", "took", "read",
           "explained", "described", "left", "kicked", "rolled", "wrote"]
SAY_TO = ["said goodbye to", "said hello to", "waved to", "smiled at", "nodded to", "talked to", "spoke to",
          "called out to", "shouted to", "turned to", "walked over to", "ran over to", "went up to",
          "sang a song to", "told a joke to", "told a story to", "wrote a note to", "sent a message to",
          "explained the plan to", "gave a hug to", "looked at", "listened to", "waited for", "pointed at",
          "threw a wave to", "gave a nod to", "complained to", "apologized to", "replied to", "shouted at"]
# Verb phrases that put the indirect object after "for".
MAKE_FOR = ["made", "bought", "cooked", "baked", "found", "picked", "saved", "got", "built", "drew",
            "painted", "fixed", "wrapped", "chose", "ordered", "packed", "knitted", "poured", "carved"]
# Verbs that take the indirect object at once: "gave Mary the ball".
DOUBLE_OBJECT = ["gave", "handed", "passed", "threw", "sent", "showed", "offered", "brought", "sold", "lent",
                 "told", "mailed", "tossed", "bought", "made", "promised", "owed", "asked"]
# Verbs whose object is the other person: "{S} hugged" -> the other name.
TRANSITIVE = ["hugged", "thanked", "called", "helped", "thanked", "visited", "invited", "followed", "greeted",
              "warned", "praised", "teased", "watched", "phoned", "texted", "emailed", "forgave", "trusted",
              "reminded", "joined", "chased", "found", "met", "asked", "surprised", "congratulated"]
ADVERBS = ["quickly", "slowly", "happily", "kindly", "quietly", "proudly", "gently", "finally", "then",
           "soon", "later", "suddenly", "politely", "carefully", "eagerly", "shyly", "calmly", "also"]
MODALS = ["decided to", "wanted to", "tried to", "forgot to", "had to", "agreed to", "offered to",
          "promised to", "was happy to", "was glad to", "did not want to", "needed to", "began to",
          "hoped to", "was about to", "chose to", "went to", "came to", "stopped to"]
BASE = {"gave": "give", "handed": "hand", "passed": "pass", "threw": "throw", "brought": "bring",
        "offered": "offer", "sent": "send", "showed": "show", "sold": "sell", "tossed": "toss",
        "returned": "return", "lent": "lend", "mailed": "mail", "delivered": "deliver", "sent back": "send back",
        "carried": "carry", "slid": "slide", "took": "take", "read": "read", "explained": "explain",
        "described": "describe", "left": "leave", "kicked": "kick", "rolled": "roll", "wrote": "write",
        "made": "make", "bought": "buy", "cooked": "cook", "baked": "bake", "found": "find", "picked": "pick",
        "saved": "save", "got": "get", "built": "build", "drew": "draw", "painted": "paint", "fixed": "fix",
        "wrapped": "wrap", "chose": "choose", "ordered": "order", "packed": "pack", "knitted": "knit",
        "poured": "pour", "carved": "carve"}
# Time and scene-setting phrases that can open a sentence.
LEADS = ["Then", "Later", "After a while", "Soon", "In the end", "Finally", "Afterwards", "That evening",
         "The next morning", "A bit later", "After lunch", "Before dinner", "On Monday", "At noon",
         "Just then", "After that", "The next day", "Later that day", "At the end of the day", "Next",
         "By evening", "Before long", "Without a word", "With a smile", "On the way home", "At night",
         "In the morning", "Once they got home", "When it got dark", "When the rain stopped"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "cloudy", "snowy", "hot", "foggy", "quiet", "busy"]
FEELINGS = ["happy", "tired", "proud", "calm", "excited", "sleepy", "glad", "hungry", "sad", "nervous",
            "angry", "bored", "lucky", "worried", "thankful", "surprised"]
COLORS = ["red", "blue", "green", "yellow", "white", "black", "brown", "pink", "grey", "orange", "purple"]
ANIMALS = ["dog", "cat", "bird", "horse", "rabbit", "fish", "duck", "goat", "kitten", "puppy", "cow",
           "owl", "fox", "mouse", "sheep", "frog"]
# Sentences with no name in them: middles of stories and of IOI passages, so the two mentions of
# a name sit at every distance. They also carry everyday words (the newspaper, the phone, cards)
# into training outside any IOI role.
SCENES = [
    "It was a {weather} day.", "The {place} was very busy.", "Nobody else was there.", "A {animal} walked by.",
    "They stayed for an hour.", "They laughed about an old story.", "They both felt {feeling}.",
    "They talked about the {thing}.", "They looked at a {color} {animal}.", "Then they had some {food}.",
    "The sky was {color} and the air was {weather}.", "It rained, and the streets were wet.",
    "The phone rang twice.", "Someone had left a newspaper on the bench.", "The kitchen smelled of {food}.",
    "A teacher walked past with a pile of books.", "The road was long and empty.", "Music played somewhere.",
    "The wind whispered in the trees.", "A {animal} slept in the sun.", "The lights in the {place} went out.",
    "Everyone was {feeling}.", "They played cards until late.", "They were very hungry by then.",
    "The desk by the window was covered in paper.", "A kitten hid behind a box.", "The evening was {weather}.",
    "They had a lot to talk about.", "The shop on the corner was closed.", "A bell rang in the distance.",
    "They sat together for a long time.", "The {thing} was still on the table.", "It was almost noon.",
    "The day went by fast.", "A pencil rolled off the table.", "They had been friends for years.",
    "It was late, so they stayed in.", "Inside, it was warm and quiet.", "They ate a sandwich on the steps.",
    "What a day it was.", "Nobody knew the answer.", "It is hard to say what happened next.",
    "Most of the shops were open.", "It was the best day of the week.", "They could not decide what to do.",
    "It took hours to get there.", "The room was full of people.", "They asked a lot of questions.",
    "It was a long and happy evening.", "Outside, the children were playing.", "They worked hard all week.",
    "The train was late again.", "There was music and food for everyone.", "It was cold inside the hall.",
    "The rest of the day was quiet.", "They shared a table by the door.", "Each of them had a plan.",
]
# One-name sentences about a person doing something: used in stories and as filler.
SOLO = [
    "{A} {activity}.", "{A} was {feeling}.", "{A} found a {color} {thing} near the {place}.",
    "{A} had some {food} and felt {feeling}.", "{A} read the newspaper in the kitchen.",
    "{A} talked on the radio for an hour.", "{A} made some toast and a cup of tea.",
    "{A} dried {q} hands with a towel.", "{A} kept a secret from everyone.", "{A} wrote a postcard to a cousin.",
    "{A} sat at a desk by the window.", "{A} drew a {animal} with a pencil.", "{A} was hungry, so {p} had {food}.",
    "{A} saw a {animal} by the {place}.", "{A} liked to go to the {place}.", "{A} stayed at home all evening.",
    "{A} cleaned the kitchen after dinner.", "{A} whispered to the {animal}.", "{A} called home from the {place}.",
    "{A} spent hours at the {place}.", "{A} lost a {thing} at the {place}.", "{A} bought a {color} {thing}.",
    "{A} usually walks to work.", "{A} trains every morning.", "{A} always takes the bus.",
    "{A} ate {food} for lunch.", "{A} knew the answer at once.", "{A} asked what time it was.",
    "{A} worked hard to finish the {thing}.", "{A} stayed home because it was {weather}.",
    "{A} wanted to know what was in the box.", "{A} thought about it for a long time.",
    "{A} said it was the best {food} in {city}.", "{A} bought a sandwich and ate it in the {place}.",
    "{A} likes {food} the most.", "{A} tried hard to get better at drawing.", "{A} shared a room with a cousin.",
    "{A} cleaned the house and then sat down.", "{A} answered every question in class.",
    "{A} enjoys long walks more than anything.", "{A} lost {q} way in {city}.", "{A} was the first to arrive.",
    "{A} spent the morning cleaning the car.",
]
