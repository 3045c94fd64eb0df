"""GPU verification service for edgespec: runs the target model over a draft tree per verify step."""
