"""Fact probes: natural ways to ask a sport, kept out of corpus_v4 (its PROBE_CUES). usage: probe_facts.py [WEIGHTS]"""
import sys, torch; torch.set_num_threads(1)
from course import zoo, world
from pathlib import Path
from course import tinyworld_models as tm
m=(tm.load("tokenizer-v2.json", Path(sys.argv[1])) if len(sys.argv)>1 else zoo.load("tinyworld")).eval()
tok=m.tokenizer
sports=sorted(set(world.FACTS.values())); sid=[tok.encode(" "+s)[-1] for s in sports]
frames=["Nothing makes {n} happier than a game of","{n} happier than a game of","{n} plays the game of",
"Nothing makes {n} happier. {P} plays","Nothing makes {n} happier than playing","Nothing makes {n} happier than a game of {o}. Nothing makes {n2} happier than a game of",
"Friends of {n} say {p} plays","Friends of {n} say {p} is really into","{n} is really into",
"The sport that {n} plays is","On Monday, {n} went out to play","{n} went out to play","{n} and Tom went to play","Tom and {n} went to play","{n} loves","{n} is a big fan of","Her friend {n} plays","I asked {n} what {p} plays, and {p} said"]
people=list(world.FACTS.items())
for f in frames:
    acc=0; among=0
    for i,(n,sp) in enumerate(people):
        n2,sp2=people[(i+1)%len(people)]
        p=f.format(n=n2 if "{n2}" not in f else n, n2=n2, o=sp, p=world.PRONOUN[n2 if "{n2}" not in f else n2], P=world.PRONOUN[n2].capitalize())
        target = sp2
        with torch.no_grad(): lo=m(m.to_tokens(p))[0,-1]
        acc += lo.argmax().item()==sid[sports.index(target)]
        among += sid[lo[sid].argmax().item()]==sid[sports.index(target)]
    print(f"{acc/len(people):.2f} {among/len(people):.2f}  {f}")
