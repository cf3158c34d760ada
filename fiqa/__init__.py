"""Training, labelling and evaluation of face image quality models (torch allowed; never imported by the gateway)."""
