import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))  # tiny_model
sys.path.insert(0, str(HERE.parents[1]))  # the repo root, when the package is not installed
