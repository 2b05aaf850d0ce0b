"""What spans heads and runs: probe scores, head importance, fingerprints and the head map, related
heads, and the comparison of two runs (drift, matching, Procrustes alignment for scrubbing)."""
