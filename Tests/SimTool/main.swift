import SimCluster
print("aphex-sim")
