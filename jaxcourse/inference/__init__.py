"""Using trained models: export, predict, the pretrained Inception-v3, CAPTCHA prediction."""
