"""MuPoTS-3D: the official multi-person evaluation in numpy (``official``) and RootNet's AP_root (``root_ap``)."""
