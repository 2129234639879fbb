"""A DHIS2-compatible face (/dhis2/): DHIS2 clients read OneTable's metadata and data and post data value sets."""
