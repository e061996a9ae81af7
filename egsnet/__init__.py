"""EGS-Net (Zou et al., AAAI 2022): emotion-guided similarity network."""
