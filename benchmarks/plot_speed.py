"""Draw results/speed.png from the recorded results/speed_*.json: ``python benchmarks/plot_speed.py``."""

from pathlib import Path

from graphcl.viz import plot_speed_results

RESULTS = Path(__file__).resolve().parent / "results"

if __name__ == "__main__":
    files = sorted(RESULTS.glob("speed_*.json"))
    print(f"wrote {plot_speed_results(files, RESULTS / 'speed.png')}")
