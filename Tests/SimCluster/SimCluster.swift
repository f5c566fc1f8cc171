public enum SimCluster {}
