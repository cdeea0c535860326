"""Virtual studies: a cohort simulated through two waves, measured and analysed like a real one; power by simulation."""
