package main

import (
	"github.com/golang-jwt/jwt/v5"
)

// signHS256 signs claims as an HS256 JWT.
func signHS256(secret string, claims map[string]any) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		panic(err)
	}
	return s
}
