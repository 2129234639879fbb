"""Reads: department data and charts, exports, burden, access records, versions shown."""
