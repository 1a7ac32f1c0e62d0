"""Model components: backbones, pixel decoder, tube transformer decoder, link/embedding heads, losses."""
