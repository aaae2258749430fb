"""The platform-neutral core: messages in, views out, and the features between them."""
