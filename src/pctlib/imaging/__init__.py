"""From tracks to the image pCT exists for (issue 18): per-track range and WEPL, proton radiographs."""
