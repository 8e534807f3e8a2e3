"""The edge's ESDK encoders: one AWS Encryption SDK message per value with a public key (suite 0x0178,
and the committing 0x0478), written with cryptography's primitives, and `FieldEncryptor` binding each
encryption entity of a config to its message key.

Public keys only; it may import esdk_format and profiles, nothing else of ours.
"""
