enum SecretGenModule {}
