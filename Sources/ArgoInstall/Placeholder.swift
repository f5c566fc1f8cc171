enum ArgoInstallModule {}
