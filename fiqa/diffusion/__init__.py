"""DifFIQA's denoising diffusion model: the schedule, a small U-Net, its training and the paper's scoring."""
