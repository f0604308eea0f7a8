"""The shipped tinyworld's card against a candidate's, metric by metric, plus both on the probe and own
frames. usage: compare.py CANDIDATE_DIR  (reads CANDIDATE_DIR/tinyworld.json and .safetensors)"""
import json
import subprocess
import sys
from pathlib import Path

from course import weights

here = Path(__file__).parent
shipped = weights.read_card(Path("course/checkpoints/tinyworld.safetensors"))
candidate_path = Path(sys.argv[1]) / "tinyworld.safetensors"
candidate = weights.read_card(candidate_path)
a, b = shipped["metrics"], candidate["metrics"]
for key, value in a.items():
    if isinstance(value, float):
        print(f"{key:52s} {value:8.3f} {b[key]:8.3f}")
    elif isinstance(value, dict) and all(isinstance(v, float) for v in value.values()):
        for k, v in value.items():
            print(f"  {key[:20]}: {k[:60]:60s} {v:6.3f} {b[key][k]:6.3f}")
    elif isinstance(value, list) and value and isinstance(value[0], float):
        print(f"{key:40s} {[round(v, 2) for v in value]}\n{'':40s} {[round(v, 2) for v in b[key]]}")
for key in ("two_hop_state", "fact_trace"):
    print(key, "shipped:", json.dumps(a[key])[:600], "\ncandidate:", json.dumps(b[key])[:600])
print("samples:", *b["samples"][:3], sep="\n  ")
print("training seconds", candidate["training_seconds"], "final train loss", candidate["final_train_loss"])
for row in candidate.get("what_training_buys", []):
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items() if not isinstance(v, (dict, list))})
for script in ("probe_facts.py", "own_frames.py"):
    for weights_file in ("course/checkpoints/tinyworld.safetensors", str(candidate_path)):
        print(script, weights_file)
        subprocess.run([sys.executable, str(here / script), weights_file], check=True)
