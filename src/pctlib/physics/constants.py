"""Physical constants (PDG 2024 values) in MeV, mm and g units."""

M_E = 0.51099895  # electron mass [MeV]
M_P = 938.27208816  # proton mass [MeV]
K_BETHE = 0.307075  # 4 pi N_A r_e^2 m_e c^2 [MeV cm^2 / mol]
HIGHLAND_E = 13.6  # Highland constant [MeV]
HIGHLAND_LOG = 0.038
AVOGADRO = 6.02214076e23  # [1/mol]
BARN_CM2 = 1e-24
PDG_PROTON = 2212


def beta2_gamma(e_kin, mass=M_P):
    """beta^2 and gamma of a particle of kinetic energy ``e_kin`` (works on floats, numpy and torch)."""
    gamma = 1.0 + e_kin / mass
    return 1.0 - 1.0 / (gamma * gamma), gamma


def p_beta_c(e_kin, mass=M_P):
    """p*beta*c [MeV] of a particle of kinetic energy ``e_kin``: (E^2 - m^2)/E."""
    total = e_kin + mass
    return (total * total - mass * mass) / total
