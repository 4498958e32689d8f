// dnnrec from C++: load a checkpoint once, score (user, movie) pairs, list a user's top movies.
//   cpp-consumer CHECKPOINT PAIRS.csv USER K
// prints the pairs' predictions as `dnnrec predict` writes them (userId,movieId,prediction),
// then USER's top K as `dnnrec recommend --users` writes them (userId,rank,movieId,score).
#include <dnnrec/error.h>
#include <dnnrec/model.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: cpp-consumer CHECKPOINT PAIRS.csv USER K\n";
    return 2;
  }
  try {
    dnnrec::Model model = dnnrec::Model::load(argv[1]);
    std::vector<int64_t> users, movies;
    std::ifstream pairs(argv[2]);
    std::string line;
    std::getline(pairs, line);  // userId,movieId
    while (std::getline(pairs, line)) {
      std::istringstream fields(line);
      std::string user, movie;
      std::getline(fields, user, ',');
      std::getline(fields, movie, ',');
      users.push_back(std::stoll(user));
      movies.push_back(std::stoll(movie));
    }
    const std::vector<float> predictions = model.predict(users, movies);
    char number[32];
    std::cout << "userId,movieId,prediction\n";
    for (size_t i = 0; i < predictions.size(); ++i) {
      std::snprintf(number, sizeof(number), "%.9g", predictions[i]);
      std::cout << users[i] << "," << movies[i] << "," << number << "\n";
    }
    const int64_t user = std::stoll(argv[3]);
    const auto list = model.recommend(user, std::stoi(argv[4]));
    std::cout << "userId,rank,movieId,score\n";
    for (size_t i = 0; i < list.size(); ++i) {
      std::snprintf(number, sizeof(number), "%.9g", list[i].score);
      std::cout << user << "," << i + 1 << "," << list[i].movie << "," << number << "\n";
    }
  } catch (const dnnrec::Error& e) {
    std::cerr << "cpp-consumer: " << e.what() << "\n";
    return e.exit_code();
  }
  return 0;
}
