"""IFQA (interpretable face quality assessment): a U-Net discriminator that scores every pixel of a face.

Trained adversarially against a plain restoration generator on the CelebA subset (never on LFW), with the
blind-face-restoration degradation pipeline, facial-primary-region swap (FPRS) and landmark face masks.
"""
