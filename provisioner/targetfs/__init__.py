"""targetfs."""
