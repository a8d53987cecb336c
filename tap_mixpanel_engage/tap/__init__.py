"""The Singer tap ``tap-mixpanel-engage``: the console entry (head start), the tap, its streams."""
