"""From tracks to the image pCT exists for: per-track range and WEPL, proton radiographs."""
